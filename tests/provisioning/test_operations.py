import pytest
from django.conf import settings
from django.core.management import call_command

from portal.celery import app
from provisioning.models import EnvironmentRequest, EnvironmentTemplate, RequestState

pytestmark = pytest.mark.django_db


def test_the_dead_run_check_is_scheduled_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["provisioning-reap-dead-runs"]
    assert entry["schedule"] <= 60
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


def test_run_tasks_acknowledge_late_and_have_a_soft_time_limit():
    from provisioning.tasks import execute_run

    assert execute_run.acks_late is True
    assert execute_run.soft_time_limit == settings.RUN_TIME_LIMIT_SECONDS
    assert execute_run.time_limit > execute_run.soft_time_limit


def test_readyz_names_a_missing_terraform_binary(client, settings):
    settings.TERRAFORM_BIN = "/nonexistent/terraform"
    body = client.get("/readyz").json()
    assert "TERRAFORM_BIN=/nonexistent/terraform" in body["checks"]["terraform"]


def test_seed_demo_loads_the_templates_and_a_request_awaiting_approval(db):
    call_command("seed_demo")
    call_command("seed_demo")  # idempotent
    assert EnvironmentTemplate.objects.filter(current_version__isnull=False).count() == 3
    demo = EnvironmentRequest.objects.get(name="demo-sandbox")
    assert demo.state == RequestState.AWAITING_APPROVAL
    assert demo.plan_summary["outputs"]


def test_python_terraform_cannot_log_commands_or_output_at_info():
    import logging

    assert logging.getLogger("python_terraform").getEffectiveLevel() >= logging.WARNING
