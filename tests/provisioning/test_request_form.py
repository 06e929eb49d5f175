"""The request form: radio buttons beside their labels, every error in one round, choosing the cluster."""

import re

import pytest
from django.urls import reverse

from provisioning import services
from provisioning.models import Cluster, EnvironmentRequest, EnvironmentTemplate
from tests.provisioning.conftest import TEST_TEMPLATES, submit

pytestmark = pytest.mark.django_db

API = "/api/provisioning"


def test_each_radio_button_sits_inside_its_own_label_under_a_legend(login, developer, shipped_templates):
    page = login(developer).get(reverse("provisioning:request-new", args=["team-sandbox"])).content.decode()
    group = re.search(r'<fieldset class="radio-group".*?</fieldset>', page, re.S).group(0)
    assert "<legend>Size" in group
    for number, size in enumerate(["small", "medium", "large"]):
        assert re.search(
            rf'<label class="radio" for="id_p_size_{number}"><input type="radio" name="p_size" value="{size}"'
            rf"[^>]*> <span>{size}</span></label>",
            group,
        ), group


def test_the_form_shows_every_error_in_one_round(login, developer, shipped_templates, service_entity, enqueued):
    submit(developer, shipped_templates["preview"], name="taken", app="checkout")
    response = login(developer).post(
        reverse("provisioning:request-new", args=["preview"]),
        {
            "name": "taken",
            "entity": service_entity.pk,
            "ttl_hours": "",  # does not parse: a form error
            "justification": "Try it.",
            "p_app": "Not_A_Label",  # parses, but the schema's pattern refuses it
            "p_branch": "main",
            "p_replicas": 9,  # the form's own bound refuses it
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"name", "ttl_hours", "p_app", "p_replicas"}, errors
    assert "already exists" in errors["name"][0]
    assert "Must match the pattern" in errors["p_app"][0]
    assert len(errors["p_replicas"]) == 1  # one message per field, not the form's and the schema's
    assert EnvironmentRequest.objects.count() == 1


def test_the_approvals_queue_shows_lifetime_team_and_the_role_granted(
    login, developer, approver, team, shipped_templates, enqueued
):
    request = submit(developer, shipped_templates["team-sandbox"], name="sbx", team=team, size="small", members=2)
    run = request.runs.get()
    services.run_claim(run_id=run.pk, worker="test")
    services.run_plan_succeeded(
        run_id=run.pk, summary={"add": 0, "change": 0, "destroy": 0, "resources": [], "outputs": []}
    )
    page = login(approver).get(reverse("provisioning:approvals")).content.decode()
    assert "<dt>Lifetime</dt><dd>168 h" in page and "extensions up to 720 h in all" in page
    assert "<dt>Team</dt><dd>payments" in page
    assert "A RoleBinding grants team payments the ClusterRole <code>admin</code>" in page


@pytest.fixture
def two_clusters(tmp_path, db):
    for name in ("eu-west", "us-east", "retired"):
        Cluster.objects.create(name=name, context=name, is_active=name != "retired")
    (tmp_path / "multi").mkdir()
    descriptor = (
        (TEST_TEMPLATES / "internal" / "bridge-template.yaml").read_text().replace("name: internal", "name: multi")
    )
    descriptor += "kubernetes:\n  clusters: [eu-west, us-east, retired, unknown]\n"
    (tmp_path / "multi" / "bridge-template.yaml").write_text(descriptor)
    (tmp_path / "multi" / "main.tf").write_text((TEST_TEMPLATES / "internal" / "main.tf").read_text())
    services.templates_reload(directory=tmp_path)
    return EnvironmentTemplate.objects.get(name="multi")


def test_the_requester_picks_one_of_the_clusters_the_template_allows(login, developer, two_clusters, enqueued):
    page = login(developer).get(reverse("provisioning:request-new", args=["multi"])).content.decode()
    assert re.findall(r'<option value="([a-z-]+)"', page) == ["eu-west", "us-east"]  # active and listed only
    response = login(developer).post(
        reverse("provisioning:request-new", args=["multi"]),
        {"name": "shop", "ttl_hours": 1, "justification": "x", "p_app": "shop", "cluster": "us-east"},
    )
    assert response.status_code == 302
    assert EnvironmentRequest.objects.get(name="shop").cluster.name == "us-east"


def test_the_api_takes_a_cluster_within_what_the_template_allows(login, developer, two_clusters, enqueued):
    client = login(developer)
    template = client.get(f"{API}/templates/multi/").json()
    assert template["clusters"] == ["eu-west", "us-east"]
    body = {"template": "multi", "justification": "x", "parameters": {"app": "shop"}}
    refused = client.post(
        f"{API}/requests/", {**body, "name": "a", "cluster": "retired"}, content_type="application/json"
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["cluster"] == ["Choose one of the template's clusters: eu-west, us-east."]
    default = client.post(f"{API}/requests/", {**body, "name": "b"}, content_type="application/json")
    assert default.json()["cluster"] == "eu-west"
    chosen = client.post(
        f"{API}/requests/", {**body, "name": "c", "cluster": "us-east"}, content_type="application/json"
    )
    assert chosen.status_code == 201 and chosen.json()["cluster"] == "us-east"
    request = EnvironmentRequest.objects.get(name="c")
    assert services.cluster_of(request).name == "us-east"
    assert services.namespace_name(request, services.cluster_of(request)) == "bridge-c"


def test_an_empty_submission_shows_the_form_with_its_errors(login, developer, shipped_templates, enqueued):
    response = login(developer).post(reverse("provisioning:request-new", args=["preview"]), {})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert EnvironmentRequest.objects.count() == 0
