"""Demo data: the shipped templates, and one request waiting for approval."""

from django.contrib.auth import get_user_model

from provisioning import services
from provisioning.models import EnvironmentRequest, EnvironmentTemplate, RequestState, RunKind, RunStatus


def seed(log) -> None:
    for result in services.templates_reload():
        log(f"template {result.name}: {result.status}" + (f" (v{result.version})" if result.version else ""))
    developer = get_user_model().objects.filter(username="developer").first()
    template = EnvironmentTemplate.objects.filter(name="team-sandbox", current_version__isnull=False).first()
    if developer is None or template is None:
        return
    if EnvironmentRequest.objects.filter(name="demo-sandbox").exists():
        log("request demo-sandbox: already present")
        return
    # A request as it looks once planned, so the approvals queue has something to show
    # without a worker running. Its plan summary is what the module plans for these values.
    request = EnvironmentRequest.objects.create(
        template=template,
        template_version=template.current_version,
        requester=developer,
        name="demo-sandbox",
        justification="Trying the new checkout flow with the payments team before the demo.",
        parameters={"size": "small", "members": 4, "purpose": "checkout experiments", "allow_public_ingress": False},
        ttl_hours=template.current_version.default_ttl_hours,
        state=RequestState.AWAITING_APPROVAL,
        plan_summary={
            "add": 0,
            "change": 0,
            "destroy": 0,
            "resources": [],
            "outputs": [
                {"name": "ingress", "actions": ["create"], "sensitive": False, "value": "internal only"},
                {"name": "namespace", "actions": ["create"], "sensitive": False, "value": "sandbox-demo-sandbox"},
                {
                    "name": "quota",
                    "actions": ["create"],
                    "sensitive": False,
                    "value": {"cpu": "2.5", "memory": "5Gi", "storage": "20Gi", "pods": "40"},
                },
            ],
        },
    )
    request.runs.create(kind=RunKind.PLAN, status=RunStatus.SUCCEEDED, command="(demo data: not run)")
    request.transitions.create(to_state=RequestState.SUBMITTED, actor=developer)
    request.transitions.create(
        from_state=RequestState.SUBMITTED, to_state=RequestState.AWAITING_APPROVAL, note="Demo data: plan ready."
    )
    log("request demo-sandbox: created, awaiting approval")
