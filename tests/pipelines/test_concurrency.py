"""Deliveries of one run processed at the same time, in any order, by several workers."""

import json
import random
import threading
import uuid

import pytest
from django.db import connection

from pipelines import providers, services
from pipelines.models import Branch, Delivery, Job, Pipeline, Run
from tests.pipelines import payloads


@pytest.mark.django_db(transaction=True)
def test_concurrent_out_of_order_deliveries_leave_one_correct_row(platform_admin):
    new = services.integration_create(actor=platform_admin, provider="github", name="GitHub race", repositories=["*"])
    events = [
        ("workflow_run", payloads.workflow_run(action="requested", status="queued")),
        ("workflow_run", payloads.workflow_run(action="in_progress", status="in_progress")),
        ("workflow_run", payloads.workflow_run()),
        ("workflow_job", payloads.workflow_job(action="queued", status="queued")),
        ("workflow_job", payloads.workflow_job(action="in_progress", status="in_progress")),
        ("workflow_job", payloads.workflow_job()),
    ] * 3  # every event three times: redeliveries
    random.Random(7).shuffle(events)
    pks = []
    for event, payload in events:
        received = services.delivery_receive(
            integration=new.integration,
            delivery_id=str(uuid.uuid4()),
            event=event,
            headers={},
            body=json.dumps(payload),
            parsed=providers.parse("github", event, payload),
        )
        pks.append(received.delivery.pk)

    errors = []

    def work(chunk):
        try:
            for pk in chunk:
                services.delivery_process(delivery_pk=pk)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(pks[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert set(Delivery.objects.values_list("status", flat=True)) == {"processed"}
    assert Pipeline.objects.count() == 1
    run = Run.objects.get()
    assert (run.status, run.number, run.duration_seconds) == ("success", 562, 390)
    job = Job.objects.get()
    assert job.status == "success"
    assert Branch.objects.get().last_run == run
