import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# Build the URL reverse table at start-up. Django builds it on the first reverse() of each process,
# which costs about 50 ms of CPU: without this, that fell on a worker's first request that links
# anywhere, such as the first alert opening an incident in an alert storm.
get_resolver().reverse_dict  # noqa: B018
