import time

import pytest
from django.urls import reverse

from knowledge import services
from knowledge.models import SiteBuild


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_build_button_queues_a_build_that_a_real_worker_runs(celery_worker, login, developer, team):
    space = services.space_create(actor=developer, key="worker-built", name="Worker built", owner=team)
    services.page_create(actor=developer, space=space, title="Hello", body="# Hello\n\n- [ ] step")
    client = login(developer)
    response = client.post(reverse("knowledge:space-build", args=[space.key]))
    assert response.status_code == 302
    build = SiteBuild.objects.get(space=space)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        build.refresh_from_db()
        if build.status in (SiteBuild.Status.SUCCEEDED, SiteBuild.Status.FAILED):
            break
        time.sleep(0.5)
    assert build.status == SiteBuild.Status.SUCCEEDED, build.log
    page = client.get(reverse("knowledge:space-site-file", args=[space.key, "hello.html"]), follow=True)
    assert page.status_code == 200 and b"Hello" in b"".join(page.streaming_content)


@pytest.mark.django_db
def test_a_stranger_cannot_build_a_team_space(login, stranger, space):
    assert login(stranger).post(reverse("knowledge:space-build", args=[space.key])).status_code == 403
    assert not SiteBuild.objects.exists()
