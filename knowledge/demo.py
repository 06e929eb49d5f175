"""Demo knowledge for ``seed_demo``: a space per demo team with an article, a runbook and a postmortem."""

from django.contrib.auth import get_user_model

from catalog.models import Entity, Kind
from catalog.selectors import owned_by_teams
from knowledge import services
from knowledge.models import Space

ARTICLE = """# How {team} works

We own {services}. Deploys go out from `main` through the pipeline; see [[{runbook}]] when it breaks.

!!! tip "On call"
    The on-call engineer carries the pager for a week, Monday to Monday.

| service | tier |
|---|---|
{rows}
"""

RUNBOOK = """# {title}

## Symptoms

Error rate above 5 % on the checkout dashboard, or the `HighErrorRate` alert.

## Diagnosis

- [ ] Open the service dashboard and check the error rate and latency
- [ ] Look at the deployments of the last hour
- [ ] Check the database connection pool

## Mitigation

- [ ] Roll back the last deployment if it started the errors
- [ ] Scale out to absorb the load

```bash
kubectl rollout undo deployment/checkout-api
```

## Escalation

Page the team lead; for payment provider issues, open a ticket with the provider.
"""

POSTMORTEM = """# {title}

## Summary

Checkout returned errors for 18 minutes after a configuration change.

## Impact

About 4 % of orders failed between 10:02 and 10:20 UTC.

## Timeline

| time (UTC) | event |
|---|---|
| 10:02 | deployment of the new pool size |
| 10:05 | alert fired; runbook started |
| 10:20 | rolled back; errors stopped |

## Root cause

The connection pool was set to 2 instead of 20.

## Action items

- [ ] Validate pool settings in CI
- [x] Add the pool size to the dashboard
"""


def seed(log) -> None:
    users = get_user_model().objects.order_by("pk")
    admin = users.filter(username="admin").first() or users.filter(is_superuser=True).first() or users.first()
    if admin is None:
        log("knowledge: no user to write the demo pages as; run the portal seeder first")
        return
    teams = Entity.objects.filter(kind=Kind.GROUP).order_by("name")
    created = 0
    for team in teams:
        key = team.name.removeprefix("team-")[:60]
        if Space.objects.filter(key=key).exists():
            continue
        space = Space.objects.create(key=key, name=team.display_name, owner=team, description="Demo space.")
        owned = list(owned_by_teams([team]).order_by("name"))
        names = ", ".join(e.name for e in owned) or "no services yet"
        rows = "\n".join(f"| {e.name} | {e.lifecycle or 'n/a'} |" for e in owned) or "| — | — |"
        runbook_title = f"{team.display_name}: service errors"
        common = {"actor": admin, "space": space, "check_permission": False}
        services.page_create(
            title=f"How {team.display_name} works",
            body=ARTICLE.format(team=team.display_name, services=names, runbook=runbook_title, rows=rows),
            tags="team, onboarding",
            **common,
        )
        services.page_create(
            title=runbook_title,
            kind="runbook",
            body=RUNBOOK.format(title=runbook_title),
            tags="on-call",
            entity_ids=[e.pk for e in owned],
            **common,
        )
        # The incidents app's demo seeder starts an incident from the runbook and links this postmortem.
        services.page_create(
            title=f"Postmortem: {team.display_name} errors after a config change",
            kind="postmortem",
            body=POSTMORTEM.format(title="Checkout errors after a config change"),
            entity_ids=[e.pk for e in owned],
            tags="postmortem",
            **common,
        )
        created += 1
    log(f"knowledge: {created} demo spaces created" if created else "knowledge: demo spaces already present")
