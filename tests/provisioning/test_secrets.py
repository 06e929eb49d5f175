"""Secret parameters: typed once, encrypted at rest, shown as •••• everywhere, given only to Terraform."""

import hashlib
import json

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from portal.models import AuditEvent, Notification
from provisioning import services
from provisioning.models import EnvironmentRequest, RequestState, RunLogLine
from tests.provisioning.conftest import run_queued

SECRET = "Hunter2-correct-horse-Ω"
TOKEN = "tok_live_5f1c0ffee"
MASK = "••••"

API = "/api/provisioning"


def _form(**overrides):
    data = {
        "name": "orders-db",
        "ttl_hours": 1,
        "justification": "A database for the orders service.",
        "p_app": "orders",
        "p_db_password": SECRET,
        "p_api_token": TOKEN,
    }
    data.update(overrides)
    return data


def _everything_stored() -> str:
    """Every row of every table of the portal, as text."""
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (table names from the schema itself)
            dump.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(dump)


def _files_under(root) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _assert_nowhere(*texts: str, secret=SECRET):
    for text in texts:
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text  # nor JSON-escaped


@pytest.mark.django_db(transaction=True)
def test_a_secret_parameter_never_appears_in_clear_anywhere(
    client, developer, approver, test_templates, enqueued, settings, mailoutbox, caplog, capfd
):
    caplog.set_level("DEBUG")
    client.force_login(developer)
    form = client.get(reverse("provisioning:request-new", args=["secret-db"])).content.decode()
    assert 'type="password" name="p_db_password"' in form and 'autocomplete="new-password"' in form

    response = client.post(reverse("provisioning:request-new", args=["secret-db"]), _form())
    assert response.status_code == 302, response.content.decode()[:2000]
    request = EnvironmentRequest.objects.get(name="orders-db")
    assert request.parameters == {"app": "orders", "db_password": MASK, "api_token": MASK}
    assert request.secret_parameters and SECRET not in request.secret_parameters
    assert services.request_secrets(request) == {"db_password": SECRET, "api_token": TOKEN}

    assert run_queued(request) == ["succeeded"]
    assert request.state == RequestState.AWAITING_APPROVAL, request.failure_reason

    pages = [client.get(reverse("provisioning:request", args=[request.pk])).content.decode()]
    assert f'<code>db_password</code> = <span class="mono">{MASK}</span>' in pages[0]
    api = client.get(f"{API}/requests/{request.pk}/").json()
    assert api["parameters"] == {"app": "orders", "db_password": MASK, "api_token": MASK}
    client.force_login(approver)
    pages.append(client.get(reverse("provisioning:approvals")).content.decode())
    assert MASK in pages[-1]

    client.post(reverse("provisioning:request-approve", args=[request.pk]), {"comment": "ok"})
    assert run_queued(request) == ["succeeded"]
    assert request.state == RequestState.ACTIVE, request.failure_reason
    # Terraform got the real value: the module's hash of it matches.
    assert request.outputs["password_sha256"]["value"] == hashlib.sha256(SECRET.encode()).hexdigest()
    assert request.outputs["connection"]["value"] == "(sensitive value)"
    pages.append(client.get(reverse("provisioning:request", args=[request.pk])).content.decode())
    pages.append(json.dumps(client.get(f"{API}/requests/{request.pk}/").json(), ensure_ascii=False))
    pages.append(json.dumps(client.get(f"{API}/environments/{request.pk}/").json(), ensure_ascii=False))

    audit = json.dumps(list(AuditEvent.objects.values()), default=str, ensure_ascii=False)
    assert MASK in audit
    notifications = json.dumps(list(Notification.objects.values()), default=str, ensure_ascii=False)
    emails = "\n".join(f"{m.subject}\n{m.body}" for m in mail.outbox)
    logs = "\n".join(RunLogLine.objects.filter(run__request=request).values_list("text", flat=True))
    runs = json.dumps(list(request.runs.values("command", "error")))
    captured = capfd.readouterr()
    worker_output = caplog.text + captured.out + captured.err
    for secret in (SECRET, TOKEN):
        _assert_nowhere(*pages, audit, notifications, emails, logs, runs, worker_output, secret=secret)
        _assert_nowhere(_everything_stored(), secret=secret)

    services.request_destroy(user=developer, request_id=request.pk, confirm="orders-db")
    assert run_queued(request) == ["succeeded"]
    assert request.state == RequestState.DESTROYED, request.failure_reason
    assert request.secret_parameters == ""  # nothing left to decrypt once it is gone


@pytest.mark.django_db(transaction=True)
def test_no_file_left_on_disk_holds_a_secret_after_the_runs(developer, approver, test_templates, enqueued, settings):
    request = services.request_submit(
        user=developer,
        template=test_templates["secret-db"],
        entity=None,
        team=None,
        name="orders-db",
        justification="x",
        ttl_hours=None,
        parameters={"app": "orders", "db_password": SECRET},
    )
    run_queued(request)
    services.request_approve(user=approver, request_id=request.pk)
    run_queued(request)
    assert request.state == RequestState.ACTIVE, request.failure_reason
    for path, content in _files_under(settings.PROVISIONING_WORK_DIR).items():
        if "terraform.tfstate" in path:
            continue  # Terraform's state holds sensitive values by design; its backend protects it
        assert SECRET.encode() not in content, path
        assert json.dumps(SECRET)[1:-1].encode() not in content, path


def test_a_secret_is_a_password_field_that_is_never_sent_back(login, developer, test_templates):
    response = login(developer).post(reverse("provisioning:request-new", args=["secret-db"]), _form(name="Bad Name"))
    assert response.status_code == 400
    page = response.content.decode()
    assert 'name="name"' in page and SECRET not in page and TOKEN not in page
    assert "orders" in page  # ordinary values are kept for the next try


def test_the_forms_errors_on_a_secret_never_tell_its_length(login, developer, test_templates):
    response = login(developer).post(
        reverse("provisioning:request-new", args=["secret-db"]), _form(p_db_password="short")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["p_db_password"] == ["Use at least 8 characters."]


def test_a_secret_error_never_repeats_the_value(login, developer, test_templates):
    response = login(developer).post(
        f"{API}/requests/",
        {
            "template": "secret-db",
            "name": "db",
            "justification": "x",
            "parameters": {"app": "a", "db_password": "short"},
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["db_password"] == ["Use at least 8 characters."]
    assert "short" not in response.content.decode()


def test_the_templates_api_marks_the_secret_parameters_write_only(login, developer, test_templates):
    schema = login(developer).get(f"{API}/templates/secret-db/").json()["parameters_schema"]
    assert schema["properties"]["db_password"]["writeOnly"] is True
    assert schema["properties"]["api_token"]["format"] == "password"


def test_a_request_whose_secrets_cannot_be_decrypted_fails_its_plan_with_the_reason(
    developer, test_templates, enqueued, settings
):
    request = services.request_submit(
        user=developer,
        template=test_templates["secret-db"],
        entity=None,
        team=None,
        name="orders-db",
        justification="x",
        ttl_hours=None,
        parameters={"app": "orders", "db_password": SECRET},
    )
    settings.PORTAL_ENCRYPTION_KEY = "another key altogether"
    with pytest.raises(services.SecretsUnreadable, match="PORTAL_ENCRYPTION_KEY"):
        services.terraform_variables(request)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_workers_log_never_holds_a_secret(celery_worker, developer, approver, test_templates):
    from tests.worker import wait_for

    def state_in(*states):
        return lambda: EnvironmentRequest.objects.filter(pk=request.pk, state__in=states).first()

    request = services.request_submit(
        user=developer,
        template=test_templates["secret-db"],
        entity=None,
        team=None,
        name="worker-db",
        justification="x",
        ttl_hours=None,
        parameters={"app": "orders", "db_password": SECRET, "api_token": TOKEN},
    )
    waiting = wait_for(state_in(RequestState.AWAITING_APPROVAL, RequestState.FAILED), timeout=90)
    assert waiting is not None and waiting.state == RequestState.AWAITING_APPROVAL, waiting and waiting.failure_reason
    services.request_approve(user=approver, request_id=request.pk)
    active = wait_for(state_in(RequestState.ACTIVE, RequestState.FAILED), timeout=90)
    assert active is not None and active.state == RequestState.ACTIVE, active and active.failure_reason
    assert active.outputs["password_sha256"]["value"] == hashlib.sha256(SECRET.encode()).hexdigest()
    worker_log = celery_worker.log_path.read_text()
    assert "provisioning.execute_run" in worker_log
    for secret in (SECRET, TOKEN):
        _assert_nowhere(worker_log, secret=secret)
