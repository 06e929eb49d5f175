"""schemathesis against the generated OpenAPI schema: no 5xx, no response that breaks the schema."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from portal import services
from portal.accounts.throttling import forget_counts
from portal.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture
def token(db, platform_admin):
    # As Django's test client does: keep the test's transaction open across requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    # The throttles count across operations; each operation starts its own count, so every
    # operation is exercised rather than answered with 429 (documented, and tested apart).
    forget_counts()
    yield services.token_create(user=platform_admin, name="fuzz", scopes=["read", "write"]).key
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_answers_within_its_schema_and_never_with_a_server_error(case, token):
    # Every check but two, which judge input validation rather than the answers:
    # DRF accepts compatible scalars (0 for "0", an empty optional filter as no
    # filter), and business rules refuse some schema-valid input with a 400 (an
    # id that names no object, a name already taken). Neither is a defect.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        excluded_checks=[negative_data_rejection, positive_data_acceptance],
    )
