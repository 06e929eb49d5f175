import logging
import os

import django
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup(set_prefix=False)  # what get_wsgi_application() does, before it builds Django's own handler

from portal.handler import PortalHandler  # noqa: E402 (needs the apps loaded)

application = PortalHandler()

# Build the URL reverse table at start-up. Django builds it on the first reverse() of each process,
# which costs about 50 ms of CPU: without this, that fell on a worker's first request that links
# anywhere, such as the first alert opening an incident in an alert storm.
get_resolver().reverse_dict  # noqa: B018


def _prepare_task_publishing() -> None:
    """Import the task modules, register the tasks and open the broker connection now. Celery does it
    on a process's first queued task, about 0.8 s here, which fell on a request: the first Alertmanager
    notifications of a storm waited that long for their answer. A broker that is down now is no error:
    requests queue their tasks once it is back, as before."""
    from portal.celery import app

    app.loader.import_default_modules()
    app.finalize(auto=True)
    try:
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
    except Exception:  # noqa: BLE001 (any broker error; nothing is lost, see above)
        logging.getLogger(__name__).warning("The broker is not reachable at start-up", exc_info=True)


_prepare_task_publishing()
