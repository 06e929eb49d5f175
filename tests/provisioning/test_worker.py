"""A real Celery worker on the configured broker (filesystem or Redis) runs real Terraform."""

import pytest

from provisioning import services
from provisioning.models import EnvironmentRequest, RequestState, Run, RunKind, RunStatus
from tests.provisioning.conftest import submit
from tests.worker import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _state(request_id, *states):
    return EnvironmentRequest.objects.filter(pk=request_id, state__in=states).first()


def test_a_real_worker_takes_a_request_from_submission_to_active(celery_worker, shipped_templates, developer, approver):
    request = submit(
        developer, shipped_templates["team-sandbox"], name="worker-sbx", size="large", members=4
    )  # enqueued on commit: autocommit here
    waiting = wait_for(lambda: _state(request.pk, RequestState.AWAITING_APPROVAL, RequestState.FAILED), timeout=90)
    assert waiting is not None, celery_worker.log_path.read_text()[-3000:]
    assert waiting.state == RequestState.AWAITING_APPROVAL, waiting.failure_reason
    quota = next(o for o in waiting.plan_summary["outputs"] if o["name"] == "quota")["value"]
    assert quota["memory"] == "17Gi"
    services.request_approve(user=approver, request_id=request.pk, comment="go")
    active = wait_for(lambda: _state(request.pk, RequestState.ACTIVE, RequestState.FAILED), timeout=90)
    assert active is not None and active.state == RequestState.ACTIVE, active and active.failure_reason
    assert active.outputs["namespace"]["value"] == ""  # no cluster is registered: no namespace
    apply = Run.objects.get(request=request, kind=RunKind.APPLY)
    assert apply.status == RunStatus.SUCCEEDED and apply.worker and apply.line_count > 0
    states = list(active.transitions.values_list("to_state", flat=True))
    assert states == ["submitted", "planning", "awaiting_approval", "approved", "applying", "active"]


def test_a_message_delivered_twice_runs_terraform_once(celery_worker, test_templates, developer):
    from provisioning import tasks

    request = submit(developer, test_templates["strict"], name="worker-twice", size=4)
    run = request.runs.get()
    tasks.execute_run.delay(run.pk)  # the same message again, as a redelivery would
    done = wait_for(lambda: _state(request.pk, RequestState.AWAITING_APPROVAL, RequestState.FAILED), timeout=90)
    assert done is not None and done.state == RequestState.AWAITING_APPROVAL
    run.refresh_from_db()
    assert run.line_count > 0
    init_lines = run.lines.filter(text__startswith="$ terraform init").count()
    assert init_lines == 1
    assert Run.objects.filter(request=request).count() == 1
    # The worker logs each task's result: the second delivery found the run already claimed.
    assert wait_for(lambda: "skipped: not queued" in celery_worker.log_path.read_text(), timeout=30)
