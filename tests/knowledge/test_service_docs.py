import os

import pytest
import yaml
from django.urls import reverse

from knowledge import services
from knowledge.mkdocs_project import ProjectError
from knowledge.models import ServiceDocsBuild

pytestmark = pytest.mark.django_db


@pytest.fixture
def roots(settings, tmp_path):
    settings.KNOWLEDGE_IMPORT_ROOTS = [str(tmp_path / "repos")]
    settings.KNOWLEDGE_SITES_DIR = tmp_path / "sites"
    (tmp_path / "repos").mkdir()
    return tmp_path / "repos"


def checkout(root, name="checkout-api", config=None):
    repo = root / name
    (repo / "docs").mkdir(parents=True)
    config = config or {"site_name": "Checkout API", "nav": [{"Home": "index.md"}, {"Ops": "ops.md"}]}
    (repo / "mkdocs.yml").write_text(yaml.safe_dump(config))
    (repo / "docs" / "index.md").write_text("# Checkout API\n\nSee [ops](ops.md).\n")
    (repo / "docs" / "ops.md").write_text("# Operations\n\n!!! note\n    Be careful.\n")
    return repo


@pytest.fixture
def documented(service, roots):
    repo = checkout(roots)
    service.annotations = {
        "backstage.io/techdocs-ref": "dir:.",
        "backstage.io/managed-by-location": f"file:{repo / 'catalog-info.yaml'}",
    }
    service.save()
    return service


def run(entity, user=None):
    build = ServiceDocsBuild.objects.create(entity=entity, requested_by=user)
    return services.service_docs_build_run(build_id=build.pk)


def test_service_docs_build_from_a_local_directory_and_are_served_with_a_sandboxing_csp(documented, login, developer):
    build = run(documented)
    assert build.status == "succeeded", build.log
    client = login(developer)
    response = client.get(reverse("knowledge:docs-file", args=[documented.pk, "ops/"]), follow=True)
    assert response.status_code == 200 and b"Be careful." in b"".join(response.streaming_content)
    csp = response["Content-Security-Policy"]
    assert csp.startswith("sandbox") and "default-src 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_docs_tab_frames_the_built_docs(documented, rf, developer):
    from django.template.loader import render_to_string

    from portal.extensions import entity_tabs

    run(documented)
    tab = next(t for t in entity_tabs() if t.key == "docs")
    request = rf.get("/")
    request.user = developer
    html = render_to_string(tab.template, {"entity": documented, **tab.context(request, documented)}, request=request)
    assert reverse("knowledge:docs", args=[documented.pk]) in html and "<iframe" in html
    assert "Rebuild the docs" in html  # developer's team owns the service


def test_a_service_without_the_annotation_says_how_to_add_docs(service, rf, stranger):
    from django.template.loader import render_to_string

    from portal.extensions import entity_tabs

    tab = next(t for t in entity_tabs() if t.key == "docs")
    html = render_to_string(tab.template, tab.context(stranger, service))
    assert "backstage.io/techdocs-ref: dir:." in html


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"site_name": "x", "hooks": ["hooks.py"]}, "hooks"),
        ({"site_name": "x", "plugins": ["macros"]}, "macros"),
        ({"site_name": "x", "docs_dir": "../other"}, "outside the project"),
    ],
)
def test_unsafe_docs_configurations_fail_the_build_with_the_reason(documented, roots, config, message):
    (roots / "checkout-api" / "mkdocs.yml").write_text(yaml.safe_dump(config))
    build = run(documented)
    assert build.status == "failed" and message in build.log
    assert not (services.service_docs_dir(documented.pk) / "index.html").exists()


def test_a_symlink_escaping_the_docs_source_fails_the_build(documented, roots, tmp_path):
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", roots / "checkout-api" / "docs" / "secret.md")
    build = run(documented)
    assert build.status == "failed" and "symbolic link pointing outside" in build.log


def test_a_docs_directory_outside_the_roots_is_refused(service, roots, tmp_path):
    checkout(tmp_path, name="elsewhere")
    service.annotations = {"backstage.io/techdocs-ref": f"dir:{tmp_path / 'elsewhere'}"}
    service.save()
    with pytest.raises(ProjectError, match="outside the configured source roots"):
        services.service_docs_source(service)
    assert run(service).status == "failed"


def test_only_owners_and_admins_rebuild_service_docs(documented, login, stranger, developer):
    assert login(stranger).post(reverse("knowledge:docs-build", args=[documented.pk])).status_code == 403
    response = login(developer).post(reverse("knowledge:docs-build", args=[documented.pk]))
    assert response.status_code == 302 and ServiceDocsBuild.objects.filter(entity=documented).count() == 1


def test_a_team_member_of_another_team_cannot_rebuild(documented, django_user_model, login):
    from tests.knowledge.conftest import make_team

    other = django_user_model.objects.create_user(username="other", password="x" * 12)
    make_team("team-other", other)
    assert login(other).post(reverse("knowledge:docs-build", args=[documented.pk])).status_code == 403


def test_docs_are_built_from_a_big_repository_without_walking_all_of_it(documented, roots, settings):
    settings.KNOWLEDGE_MAX_IMPORT_FILES = 5
    src = roots / "checkout-api" / "src"
    src.mkdir()
    for n in range(50):
        (src / f"module{n}.py").write_text("x = 1\n")
    build = run(documented)
    assert build.status == "succeeded", build.log


def test_a_broken_link_in_the_docs_is_a_failed_build_with_a_reason(documented, roots):
    os.symlink(roots / "checkout-api" / "docs" / "missing.md", roots / "checkout-api" / "docs" / "broken.md")
    build = run(documented)
    assert build.status == "failed" and build.log


def test_a_docs_folder_cannot_replace_mkdocs_with_its_own_code(documented, roots, tmp_path):
    repo = roots / "checkout-api"
    (repo / "mkdocs.yml").write_text(yaml.safe_dump({"site_name": "x", "docs_dir": "mkdocs"}))
    (repo / "docs").rename(repo / "mkdocs")
    marker = tmp_path / "pwned"
    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    (repo / "mkdocs" / "__init__.py").write_text(code)
    (repo / "mkdocs" / "__main__.py").write_text(code)
    build = run(documented)
    assert not marker.exists()
    assert build.status == "succeeded", build.log


@pytest.mark.parametrize("config", ["site_name: x\nplugins: 5\n", "site_name: x\ntheme: [material]\n"])
def test_a_malformed_docs_configuration_fails_the_build_with_the_reason(documented, roots, config):
    (roots / "checkout-api" / "mkdocs.yml").write_text(config)
    build = run(documented)
    assert build.status == "failed" and "must be" in build.log
