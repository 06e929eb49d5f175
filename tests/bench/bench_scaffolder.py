"""Software-template benchmark (issue 23): prints figures; not part of the pass/fail suite.

    .venv/bin/pytest tests/bench/bench_scaffolder.py -s -p no:randomly

Budget: a 50-file template, from the click on Create to the entity visible in the catalog, with
the repository created through the (simulated, recorded) GitHub API and pushed with git to the
local Git server, by a real Celery worker: ≤ 10 s.
"""

import shutil
import time

import pytest

from catalog.models import Entity, Relation
from portal.githosts import integrations
from portal.models import GitIntegration
from scaffolder import sandbox, services
from scaffolder.models import RunState, ScaffolderRun, SoftwareTemplate
from tests.scaffolder.conftest import SHIPPED
from tests.worker import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
BUDGET_SECONDS = 10.0


def _fifty_file_template(tmp_path) -> SoftwareTemplate:
    folder = tmp_path / "templates" / "bench-service"
    shutil.copytree(SHIPPED, folder)
    descriptor = folder / "bridge-scaffold.yaml"
    descriptor.write_text(
        descriptor.read_text()
        .replace("name: python-service", "name: bench-service")
        .replace("title: Python service", "title: Bench service")
    )
    skeleton = folder / "skeleton"
    existing = sum(1 for p in skeleton.rglob("*") if p.is_file())
    for i in range(50 - existing):
        (skeleton / "src" / "{{ package }}" / f"module_{i:02d}.py.jinja").parent.mkdir(parents=True, exist_ok=True)
        (skeleton / "src" / "{{ package }}" / f"module_{i:02d}.py.jinja").write_text(
            '"""A module of {{ name }}."""\n\n'
            + "\n".join(f"VALUE_{j} = {{{{ port }}}} + {j}" for j in range(40))
            + "\n"
        )
    loaded = sandbox.load_template(folder)
    assert len(loaded.files) == 50
    return loaded


def test_bench_fifty_files_from_click_to_entity(celery_worker, client, developer, github_api, git_server, tmp_path,
                                               settings):  # fmt: skip
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    team = Entity.objects.create(kind="Group", name="payments")
    person = Entity.objects.create(kind="User", name=developer.username, portal_user=developer)
    Relation.objects.create(source=team, type="hasMember", target_ref=person.ref, target=person)
    GitIntegration.objects.create(type="github", host=git_server.host, api_base_url=github_api.api_url,
                                  allow_private_addresses="true")  # fmt: skip
    integrations.forget()
    _fifty_file_template(tmp_path)
    settings.SCAFFOLDER_TEMPLATE_DIRS = [str(tmp_path / "templates")]
    services.templates_reload(actor=None)
    template = SoftwareTemplate.objects.get(name="bench-service")
    assert len(template.files) == 50
    client.force_login(developer)
    figures = []
    for attempt in range(3):
        name = f"bench-api-{attempt}"
        started = time.perf_counter()
        response = client.post(
            "/create/templates/bench-service/",
            {"name": name, "owner": "group:default/payments", "destination": f"github:{git_server.host}",
             "repository_owner": "acme", "visibility": "private", "p_description": "Benchmarked.",
             "p_system": "bench", "p_lifecycle": "experimental", "p_python_version": "3.12", "p_port": "8000"},
        )  # fmt: skip
        preview = time.perf_counter() - started
        run = ScaffolderRun.objects.get(name=name)
        assert response.status_code == 302
        clicked = time.perf_counter()
        client.post(f"/create/runs/{run.pk}/create/")
        entity = wait_for(
            lambda name=name: (
                Entity.objects.filter(kind="Component", name=name).first()
                or ScaffolderRun.objects.filter(name=name, state=RunState.FAILED).first()
            ),
            timeout=60,
            interval=0.05,
        )
        visible = time.perf_counter() - clicked
        assert isinstance(entity, Entity), getattr(entity, "error", celery_worker.log_path.read_text()[-2000:])
        assert client.get(entity.get_absolute_url()).status_code == 200
        figures.append((preview, visible))
        print(f"\n50 files, run {attempt + 1}: preview {preview:.2f} s, click → entity in the catalog {visible:.2f} s")
    worst = max(v for _p, v in figures)
    print(f"worst click → entity: {worst:.2f} s (budget {BUDGET_SECONDS:.0f} s)")
    assert worst <= BUDGET_SECONDS
