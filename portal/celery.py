"""The Celery application: queues ``provisioning`` and ``default``."""

import os

from celery import Celery
from celery.signals import worker_init
from kombu import Queue
from kombu.transport import TRANSPORT_ALIASES

# filesystem:// (the embedded default) with messages written whole; see portal/broker.py.
TRANSPORT_ALIASES["filesystem"] = "portal.broker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("provisioning"))
app.autodiscover_tasks()


@worker_init.connect
def _prepare_worker(**kwargs) -> None:
    """Build Django's URL reverse table in the worker's main process, before it starts its pool: each
    pool process would otherwise build it on its first reverse() (about 50 ms of CPU here), such as the
    first incident it opens in an alert storm. The pool's processes inherit it."""
    import django
    from django.urls import get_resolver

    django.setup()
    get_resolver().reverse_dict  # noqa: B018
