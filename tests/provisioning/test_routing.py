"""Which queue each provisioning task goes to, as Celery's own router decides it."""

import pytest

from portal.celery import app

# Tasks that run Terraform; every other provisioning task is short housekeeping.
TERRAFORM_TASKS = {"provisioning.execute_run", "provisioning.check_drift", "provisioning.supervise_run"}


def provisioning_task_names() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name, task in app.tasks.items() if task.__module__ == "provisioning.tasks")


def queue_of(name: str) -> str:
    return app.amqp.router.route({}, name)["queue"].name


def test_the_provisioning_tasks_are_found_by_their_registered_names():
    names = provisioning_task_names()
    assert set(names) >= TERRAFORM_TASKS
    assert all(name.startswith("provisioning.") for name in names)


@pytest.mark.parametrize("name", provisioning_task_names())
def test_terraform_runs_go_to_the_provisioning_queue_and_the_rest_to_default(name):
    assert queue_of(name) == ("provisioning" if name in TERRAFORM_TASKS else "default")


def test_email_delivery_never_waits_behind_terraform():
    assert queue_of("portal.deliver") == "default"
