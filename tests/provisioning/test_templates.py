import shutil

import pytest
from django.core.management import call_command

from provisioning import services
from provisioning.models import EnvironmentTemplate
from tests.provisioning.conftest import TEST_TEMPLATES

pytestmark = pytest.mark.django_db


def test_the_three_shipped_templates_load_and_validate(shipped_templates):
    assert set(shipped_templates) == {"preview", "team-sandbox", "staging-stack"}
    staging = shipped_templates["staging-stack"].current_version
    assert staging.approval_policy == "distinct" and staging.approvals_required == 2
    assert staging.parameters_schema["properties"]["replicas"]["minimum"] == 2
    assert staging.max_ttl_hours == 336
    assert "main.tf" in staging.files


def test_loading_the_same_templates_again_changes_nothing(shipped_templates):
    results = services.templates_reload()
    assert {r.status for r in results} == {"unchanged"}
    assert EnvironmentTemplate.objects.get(name="preview").versions.count() == 1


def test_a_changed_template_becomes_a_new_version(tmp_path, db):
    shutil.copytree(TEST_TEMPLATES / "strict", tmp_path / "strict")
    services.templates_reload(directory=tmp_path)
    main = tmp_path / "strict" / "main.tf"
    main.write_text(main.read_text() + '\noutput "extra" {\n  value = 1\n}\n')
    (result,) = services.templates_reload(directory=tmp_path)
    assert (result.status, result.version) == ("updated", 2)
    template = EnvironmentTemplate.objects.get(name="strict")
    assert template.current_version.number == 2
    assert 'output "extra"' in template.current_version.files["main.tf"]


def test_an_invalid_change_is_rejected_with_its_reason_and_the_working_version_stays(tmp_path, db):
    shutil.copytree(TEST_TEMPLATES / "strict", tmp_path / "strict")
    services.templates_reload(directory=tmp_path)
    (tmp_path / "strict" / "main.tf").write_text('output "x" {\n  value = local.nowhere\n}\n')
    (result,) = services.templates_reload(directory=tmp_path)
    assert result.status == "rejected"
    assert "size" in result.message  # the parameter has no variable any more
    template = EnvironmentTemplate.objects.get(name="strict")
    assert template.current_version.number == 1
    assert template.last_load_error == result.message


def test_a_module_that_terraform_finds_invalid_is_rejected(test_templates):
    template = test_templates["broken-module"]
    assert template.current_version is None
    assert "terraform validate" in template.last_load_error
    assert "local.missing" in template.last_load_error or "Reference to undeclared local" in template.last_load_error


def test_a_parameters_schema_that_is_not_json_schema_is_rejected(test_templates):
    template = test_templates["broken-schema"]
    assert template.current_version is None
    assert "not a valid JSON Schema" in template.last_load_error


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("approval:\n  policy: distinct\n  count: 2", "approval:\n  policy: sometimes"), "approval/policy"),
        (("ttl: {defaultHours: 1, maxHours: 2}", "ttl: {defaultHours: 5, maxHours: 2}"), "defaultHours"),
        (("size: {type: integer, minimum: 1, maximum: 10}", "size: {type: array}"), "type must be one of"),
        (("name: strict", "name: Not A Slug"), "name"),  # recorded under its directory name
    ],
)
def test_descriptor_mistakes_are_reported_with_their_reason(tmp_path, db, change, reason):
    shutil.copytree(TEST_TEMPLATES / "strict", tmp_path / "strict")
    descriptor = tmp_path / "strict" / "bridge-template.yaml"
    text = descriptor.read_text()
    assert change[0] in text
    descriptor.write_text(text.replace(*change))
    (result,) = services.templates_reload(directory=tmp_path)
    assert result.status == "rejected"
    assert reason in result.message


def test_the_management_command_reports_each_template(db, capsys):
    call_command("load_templates", "--dir", str(TEST_TEMPLATES))
    out = capsys.readouterr()
    assert "strict: created (v1)" in out.out
    assert "broken-module: rejected" in out.out
    assert "2 template(s) rejected" in out.err


def test_the_admin_reload_button_loads_templates(client, platform_admin):
    client.force_login(platform_admin)
    page = client.get("/admin/provisioning/environmenttemplate/")
    assert "Reload templates from the directory" in page.content.decode()
    response = client.post("/admin/provisioning/environmenttemplate/reload/", follow=True)
    assert "Preview: created." in response.content.decode()  # the admin capitalises messages
    assert EnvironmentTemplate.objects.filter(current_version__isnull=False).count() == 3


@pytest.mark.parametrize(
    ("descriptor_change", "module_change", "reason"),
    [
        (None, ("  sensitive = true\n  validation", "  validation"), 'variable "db_password" is not'),
        (("      writeOnly: true\n", ""), None, "add writeOnly: true"),
        (("      minLength: 8\n", "      minLength: 8\n      default: letmein1\n"), None, "a secret has no default"),
        (("      format: password\n", "      format: password\n      type: integer\n"), None, "is a string"),
    ],
)
def test_secret_parameters_must_match_a_sensitive_variable(tmp_path, db, descriptor_change, module_change, reason):
    shutil.copytree(TEST_TEMPLATES / "secret-db", tmp_path / "secret-db")
    for name, change in (("bridge-template.yaml", descriptor_change), ("main.tf", module_change)):
        if change:
            path = tmp_path / "secret-db" / name
            assert change[0] in path.read_text()
            path.write_text(path.read_text().replace(*change, 1))
    (result,) = services.templates_reload(directory=tmp_path)
    assert result.status == "rejected"
    assert reason in result.message


def test_a_secret_parameter_cannot_fill_a_kubernetes_object(tmp_path, db):
    shutil.copytree(TEST_TEMPLATES / "secret-db", tmp_path / "secret-db")
    descriptor = tmp_path / "secret-db" / "bridge-template.yaml"
    descriptor.write_text(
        descriptor.read_text()
        + "kubernetes:\n  clusters: [default]\n  manifests:\n"
        + "    - {apiVersion: v1, kind: Secret, metadata: {name: db}, stringData: {password: '${db_password}'}}\n"
    )
    (result,) = services.templates_reload(directory=tmp_path)
    assert result.status == "rejected"
    assert "secret parameter(s) db_password cannot fill Kubernetes objects" in result.message
