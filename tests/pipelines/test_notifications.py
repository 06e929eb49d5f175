import pytest

from catalog import services as catalog
from catalog.models import Entity
from portal.models import Notification
from tests.catalog.conftest import TEAM_YAML
from tests.pipelines import payloads

pytestmark = pytest.mark.django_db


@pytest.fixture
def payments_of_team_a(developer, teammate, stranger):
    catalog.catalog_import_text(text=TEAM_YAML, name="teams")
    catalog.catalog_import_text(
        text=(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
            "metadata: {name: payments, annotations: {github.com/project-slug: acme/payments}}\n"
            "spec: {type: service, lifecycle: production, owner: team-a}\n"
        ),
        name="payments",
    )
    catalog.portal_user_link(entity=Entity.objects.get(ref_key="user:default/dev"), user=developer)
    catalog.portal_user_link(entity=Entity.objects.get(ref_key="user:default/teammate"), user=teammate)


def test_a_red_default_branch_notifies_the_owning_team_once(
    payments_of_team_a, send_github, developer, teammate, stranger, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send_github("workflow_run", payloads.workflow_run(conclusion="failure"))
        send_github("workflow_run", payloads.workflow_run(conclusion="failure"))  # a redelivery
    for user in (developer, teammate):
        assert Notification.objects.filter(user=user, event="pipeline_failed").count() == 1
    notification = Notification.objects.get(user=developer)
    assert notification.title == "acme/payments · CI failed on main"
    assert not Notification.objects.filter(user=stranger).exists()


def test_a_failure_on_another_branch_notifies_nobody(payments_of_team_a, send_github, developer):
    run = payloads.workflow_run(conclusion="failure")
    run["workflow_run"]["head_branch"] = "feature/x"
    send_github("workflow_run", run)
    assert not Notification.objects.exists()
