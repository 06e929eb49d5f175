"""The Celery application: queues ``provisioning`` and ``default``."""

import os

from celery import Celery
from kombu import Queue
from kombu.transport import TRANSPORT_ALIASES

# filesystem:// (the embedded default) with messages written whole; see portal/broker.py.
TRANSPORT_ALIASES["filesystem"] = "portal.broker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("provisioning"))
app.autodiscover_tasks()
