import pytest
from django.urls import reverse

from provisioning import services
from provisioning.models import EnvironmentRequest, RequestState, Run, RunLogLine, RunStatus
from tests.provisioning.conftest import submit

pytestmark = pytest.mark.django_db


def _form_data(entity, **overrides):
    data = {
        "name": "pr-7",
        "entity": entity.pk,
        "ttl_hours": 12,
        "justification": "Try the branch.",
        "p_app": "checkout",
        "p_branch": "main",
        "p_replicas": 2,
    }
    data.update(overrides)
    return data


def test_the_request_form_is_generated_from_the_template_schema(login, developer, shipped_templates):
    response = login(developer).get(reverse("provisioning:request-new", args=["team-sandbox"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="p_size"' in body and 'type="radio"' in body  # enum with the radio hint
    assert 'name="p_members"' in body and 'max="20"' in body
    assert "<textarea" in body and 'name="p_purpose"' in body
    assert 'name="p_allow_public_ingress"' in body and 'type="checkbox"' in body
    assert 'max="720"' in body  # the TTL bound


def test_submitting_a_valid_form_creates_the_request_and_queues_its_plan(
    login, developer, shipped_templates, service_entity, team, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    from provisioning import tasks

    monkeypatch.setattr(tasks.execute_run, "apply_async", lambda args, **options: sent.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        response = login(developer).post(
            reverse("provisioning:request-new", args=["preview"]), _form_data(service_entity, team=team.pk)
        )
    request = EnvironmentRequest.objects.get(name="pr-7")
    assert response.status_code == 302 and response["Location"] == reverse("provisioning:request", args=[request.pk])
    assert request.parameters == {"app": "checkout", "branch": "main", "replicas": 2, "debug": False}
    assert request.template_version.number == 1 and request.team == team and request.ttl_hours == 12
    assert sent == [request.runs.get().pk]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"p_app": "Not_A_Label"}, "p_app", "Must match the pattern"),
        ({"p_replicas": 9}, "p_replicas", "less than or equal to 3"),
        ({"p_app": ""}, "p_app", "This field is required."),
        ({"name": "Bad Name ✨"}, "name", "lower case letters"),
        ({"name": "x" * 300}, "name", "at most 40"),
        ({"ttl_hours": 100}, "ttl_hours", "less than or equal to 72"),
        ({"justification": ""}, "justification", "This field is required."),
        ({"p_branch": "ü" * 101}, "p_branch", "at most 100"),
    ],
)
def test_invalid_input_is_shown_on_its_field_and_nothing_is_created(
    login, developer, shipped_templates, service_entity, overrides, field, message
):
    response = login(developer).post(
        reverse("provisioning:request-new", args=["preview"]), _form_data(service_entity, **overrides)
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(message in e for e in errors[field]), errors[field]
    assert message in response.content.decode() or message.replace("’", "'") in response.content.decode()
    assert not EnvironmentRequest.objects.exists()


def test_a_name_clash_with_a_live_environment_is_refused_on_the_name_field(
    login, developer, shipped_templates, service_entity, enqueued
):
    submit(developer, shipped_templates["preview"], name="pr-7", app="checkout")
    response = login(developer).post(reverse("provisioning:request-new", args=["preview"]), _form_data(service_entity))
    assert response.status_code == 400
    assert "already exists" in response.context["form"].errors["name"][0]


def test_a_name_is_free_again_once_its_request_was_canceled(developer, shipped_templates, enqueued):
    first = submit(developer, shipped_templates["preview"], name="pr-7", app="checkout")
    services.request_cancel(user=developer, request_id=first.pk)
    second = submit(developer, shipped_templates["preview"], name="pr-7", app="checkout")
    assert second.pk != first.pk


def _planned(user, template, name="sbx", **params):
    request = submit(user, template, name=name, **(params or {"size": "small", "members": 2}))
    run = request.runs.get()
    services.run_claim(run_id=run.pk, worker="test")
    services.log_append(run_id=run.pk, first_number=1, lines=["line one", "line two"])
    services.run_plan_succeeded(
        run_id=run.pk, summary={"add": 1, "change": 0, "destroy": 0, "resources": [], "outputs": []}
    )
    request.refresh_from_db()
    return request


@pytest.mark.parametrize(
    ("who", "status"),
    [("developer", 200), ("teammate", 200), ("stranger", 404), ("approver", 200), ("platform_admin", 200)],
)
def test_who_can_see_a_request(request, login, who, status, developer, team, shipped_templates, enqueued):
    env = submit(developer, shipped_templates["preview"], name="pr-1", team=team, app="checkout")
    user = request.getfixturevalue(who)
    assert login(user).get(reverse("provisioning:request", args=[env.pk])).status_code == status


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("developer", True), ("teammate", True), ("stranger", False), ("approver", False), ("platform_admin", True)],
)
def test_who_can_cancel_a_request(request, login, who, allowed, developer, team, shipped_templates, enqueued):
    env = submit(developer, shipped_templates["preview"], name="pr-1", team=team, app="checkout")
    user = request.getfixturevalue(who)
    login(user).post(reverse("provisioning:request-cancel", args=[env.pk]))
    env.refresh_from_db()
    assert (env.state == RequestState.CANCELED) is allowed


@pytest.mark.parametrize(
    ("who", "outcome"),
    [
        ("developer", "You cannot approve your own request."),
        ("teammate", "Only members of the template's approval group"),
        ("approver", "You approved sbx."),
        ("platform_admin", "You approved sbx."),
    ],
)
def test_who_can_approve_a_request(request, login, who, outcome, developer, team, shipped_templates, enqueued):
    env = _planned(developer, shipped_templates["team-sandbox"])
    env.team = team
    env.save()
    user = request.getfixturevalue(who)
    response = login(user).post(reverse("provisioning:request-approve", args=[env.pk]), follow=True)
    assert outcome in response.content.decode().replace("&#x27;", "'")
    env.refresh_from_db()
    assert (env.state == RequestState.APPROVED) is outcome.startswith("You approved")


def test_approving_twice_tells_the_second_click_it_is_already_approved(
    login, developer, approver, shipped_templates, enqueued
):
    env = _planned(developer, shipped_templates["team-sandbox"])
    client = login(approver)
    client.post(reverse("provisioning:request-approve", args=[env.pk]))
    response = client.post(reverse("provisioning:request-approve", args=[env.pk]), follow=True)
    assert "This request is already approved." in response.content.decode()
    assert Run.objects.filter(request=env, kind="apply").count() == 1


def test_rejecting_needs_a_comment_and_tells_the_requester(
    login,
    developer,
    approver,
    shipped_templates,
    enqueued,
    mailoutbox,
    django_capture_on_commit_callbacks,
    deliver_inline,
):
    env = _planned(developer, shipped_templates["team-sandbox"])
    client = login(approver)
    response = client.post(reverse("provisioning:request-reject", args=[env.pk]), {"comment": "  "}, follow=True)
    assert "Say why you reject the request" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("provisioning:request-reject", args=[env.pk]), {"comment": "Use a preview instead."})
    env.refresh_from_db()
    assert env.state == RequestState.REJECTED
    assert mailoutbox[-1].to == ["dev@example.com"]
    assert "Use a preview instead." in mailoutbox[-1].body
    assert developer.notifications.filter(title=f"Your environment {env.name} was rejected").exists()


def test_approvers_are_emailed_when_a_plan_awaits_them(
    developer, approver, shipped_templates, enqueued, mailoutbox, django_capture_on_commit_callbacks, deliver_inline
):
    with django_capture_on_commit_callbacks(execute=True):
        _planned(developer, shipped_templates["team-sandbox"])
    assert approver.notifications.filter(event="approval_needed", title="Approval needed: sbx").exists()
    assert any("appr@example.com" in m.to and "Approval needed: sbx" in m.subject for m in mailoutbox)
    assert all("dev@example.com" not in m.to for m in mailoutbox if "Approval needed" in m.subject)


def test_the_approvals_page_lists_waiting_requests_oldest_first_without_own_requests(
    login, developer, approver, shipped_templates, enqueued, django_assert_max_num_queries
):
    first = _planned(developer, shipped_templates["team-sandbox"], name="first")
    second = _planned(developer, shipped_templates["team-sandbox"], name="second")
    own = _planned(approver, shipped_templates["team-sandbox"], name="mine")
    client = login(approver)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("provisioning:approvals"))
    body = response.content.decode()
    assert body.index(">first<") < body.index(">second<")
    assert ">mine<" not in body
    assert "+1 to add" in body and "To test the change before merging." in body
    services.request_approve(user=approver, request_id=first.pk)
    body = client.get(reverse("provisioning:approvals")).content.decode()
    assert ">first<" not in body and ">second<" in body
    assert f'href="{reverse("provisioning:request", args=[second.pk])}"' in body
    assert f'href="{reverse("provisioning:request", args=[own.pk])}"' not in body


def test_the_approvals_page_is_for_approvers_only(login, developer):
    assert login(developer).get(reverse("provisioning:approvals")).status_code == 403


def test_the_log_poll_returns_only_new_lines_and_stops_when_the_run_ends(login, developer, shipped_templates, enqueued):
    env = submit(developer, shipped_templates["team-sandbox"], name="sbx", size="small", members=2)
    run = env.runs.get()
    services.run_claim(run_id=run.pk, worker="test")
    services.log_append(run_id=run.pk, first_number=1, lines=["one", "two", "three"])
    client = login(developer)
    url = reverse("provisioning:request-log", args=[env.pk])
    body = client.get(url, {"run": run.pk, "after": 1}, HTTP_HX_REQUEST="true").content.decode()
    assert "two" in body and "three" in body and "one\n" not in body
    assert 'hx-trigger="every 1s"' in body and "after=3" in body
    assert 'id="log-run-status" hx-swap-oob="true" class="badge badge-warn">Running<' in body
    services.run_fail(run_id=run.pk, reason="boom")
    body = client.get(url, {"run": run.pk, "after": 3}, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in body and "End of log." in body
    assert 'id="log-run-status" hx-swap-oob="true" class="badge badge-bad">Failed<' in body  # the heading follows


def test_the_log_poll_switches_to_a_newer_run(login, developer, shipped_templates, enqueued):
    env = _planned(developer, shipped_templates["preview"], name="pv", app="checkout")  # auto: apply queued
    plan = env.runs.get(kind="plan")
    apply = env.runs.get(kind="apply")
    response = login(developer).get(
        reverse("provisioning:request-log", args=[env.pk]), {"run": plan.pk, "after": 2}, HTTP_HX_REQUEST="true"
    )
    assert response["HX-Retarget"] == "#log-section"
    assert f"Apply #{apply.pk}" in response.content.decode()


def test_the_request_page_shows_timeline_plan_and_masked_outputs(
    login, developer, shipped_templates, enqueued, django_assert_max_num_queries
):
    env = _planned(developer, shipped_templates["team-sandbox"])
    EnvironmentRequest.objects.filter(pk=env.pk).update(
        outputs={
            "token": {"sensitive": True, "value": "(sensitive value)"},
            "ns": {"sensitive": False, "value": "x"},
            "quota": {"sensitive": False, "value": {"cpu": "4.5", "pods": "40"}},
        }
    )
    client = login(developer)
    with django_assert_max_num_queries(20):
        response = client.get(reverse("provisioning:request", args=[env.pk]))
    body = response.content.decode()
    assert "Awaiting approval" in body and "+1 to add" in body and "line two" in body
    assert "(sensitive value)" in body
    assert "{&quot;cpu&quot;: &quot;4.5&quot;, &quot;pods&quot;: &quot;40&quot;}" in body  # JSON, not Python's repr
    assert (
        "hx-trigger" not in body.split('id="main"')[1].split('id="log-section"')[0]
    )  # not moving: no polling of the state


def test_a_failed_request_shows_its_reason_and_a_retry_button(login, developer, shipped_templates, enqueued):
    env = submit(developer, shipped_templates["preview"], name="pv", app="checkout")
    run = env.runs.get()
    services.run_claim(run_id=run.pk, worker="test")
    services.run_fail(run_id=run.pk, reason="`terraform plan` exited with code 1.\nError: bad", exit_code=1)
    client = login(developer)
    body = client.get(reverse("provisioning:request", args=[env.pk])).content.decode()
    assert "Error: bad" in body and ">Retry<" in body
    client.post(reverse("provisioning:request-retry", args=[env.pk]))
    env.refresh_from_db()
    assert env.state == RequestState.SUBMITTED
    assert env.runs.filter(status=RunStatus.QUEUED).count() == 1


def test_only_platform_admins_reload_templates(login, developer, platform_admin, db):
    assert login(developer).post(reverse("provisioning:templates-reload")).status_code == 403
    response = login(platform_admin).post(reverse("provisioning:templates-reload"), follow=True)
    assert "preview: created (v1)" in response.content.decode()


def test_home_panels_show_my_environments_and_my_approvals(login, developer, approver, shipped_templates, enqueued):
    _planned(developer, shipped_templates["team-sandbox"], name="sbx-home")
    assert "sbx-home" in login(developer).get(reverse("home")).content.decode()
    assert "sbx-home" in login(approver).get(reverse("home")).content.decode()


def test_log_lines_are_numbered_without_gaps(developer, shipped_templates, enqueued):
    env = submit(developer, shipped_templates["preview"], name="pv", app="checkout")
    run = env.runs.get()
    services.log_append(run_id=run.pk, first_number=1, lines=["a", "b"])
    services.log_append(run_id=run.pk, first_number=3, lines=["c"])
    assert list(RunLogLine.objects.filter(run=run).values_list("number", "text")) == [(1, "a"), (2, "b"), (3, "c")]


def test_the_environments_page_lists_templates_and_my_requests_in_bounded_queries(
    login, developer, shipped_templates, enqueued, django_assert_max_num_queries
):
    for i in range(5):
        submit(developer, shipped_templates["preview"], name=f"pv-{i}", app="checkout")
    client = login(developer)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("provisioning:index"))
    body = response.content.decode()
    assert "Preview environment" in body and "Staging stack" in body
    assert all(f">pv-{i}<" in body for i in range(5))
    assert "Reload templates" not in body  # admins only


def test_with_no_templates_the_page_says_what_to_do(login, developer, db):
    body = login(developer).get(reverse("provisioning:index")).content.decode()
    assert "No environment templates are published yet" in body
    assert "You have no environment requests yet" in body


def test_the_state_section_polls_while_a_worker_is_busy_and_stops_after(login, developer, shipped_templates, enqueued):
    env = submit(developer, shipped_templates["team-sandbox"], name="sbx", size="small", members=2)
    client = login(developer)
    url = reverse("provisioning:request-live", args=[env.pk])
    body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in body and "Submitted" in body
    run = env.runs.get()
    services.run_claim(run_id=run.pk, worker="test")
    services.run_plan_succeeded(
        run_id=run.pk, summary={"add": 2, "change": 0, "destroy": 0, "resources": [], "outputs": []}
    )
    body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in body and "Awaiting approval" in body and "+2 to add" in body


def test_the_environment_card_appears_live_when_the_apply_finishes(
    login, developer, approver, shipped_templates, enqueued
):
    env = _planned(developer, shipped_templates["team-sandbox"])
    services.request_approve(user=approver, request_id=env.pk, comment="ok")
    client = login(developer)
    url = reverse("provisioning:request-live", args=[env.pk])
    body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="environment-slot" hx-swap-oob="true"' in body and 'id="environment"' not in body
    apply = env.runs.get(kind="apply")
    services.run_claim(run_id=apply.pk, worker="test")
    services.run_apply_succeeded(
        run_id=apply.pk, outputs={}, kubernetes=services.KubernetesOutcome(state="skipped", note="No cluster.")
    )
    body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-swap-oob="true"' in body and 'id="environment"' in body and ">Destroy</button>" in body


def test_deciding_from_the_approvals_queue_returns_to_the_queue(
    login, approver, developer, shipped_templates, enqueued
):
    env = _planned(developer, shipped_templates["team-sandbox"])
    response = login(approver).post(
        reverse("provisioning:request-approve", args=[env.pk]), {"from": "approvals", "comment": "ok"}
    )
    assert response["Location"] == reverse("provisioning:approvals")
    env.refresh_from_db()
    assert env.state == RequestState.APPROVED
    assert env.approvals.get().comment == "ok"


def test_a_secret_that_slipped_into_a_log_is_redacted(developer, shipped_templates, enqueued):
    env = submit(developer, shipped_templates["preview"], name="pv", app="checkout")
    run = env.runs.get()
    services.log_append(run_id=run.pk, first_number=1, lines=["password is hunter2-long", "nothing here"])
    assert services.log_redact(run_id=run.pk, secrets=["hunter2-long"]) == 1
    texts = list(RunLogLine.objects.filter(run=run).values_list("text", flat=True))
    assert texts == ["password is (sensitive value)", "nothing here"]
