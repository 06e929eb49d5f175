"""Demo data: an integration, two repositories with a month of runs, deployments and an incident.

Idempotent: the runs and deployments are keyed by provider ids, so running it again changes nothing.
"""

from __future__ import annotations

import hashlib
import random
from datetime import timedelta

from django.utils import timezone

from catalog.models import Entity
from pipelines import providers, services
from pipelines.models import Integration, Provider, RunStatus

REPOS = [
    ("acme/payments", "payments"),
    ("acme/web-shop", "web-shop"),
]


def seed(log) -> None:
    if not Integration.objects.filter(name="Demo GitHub").exists():
        new = services.integration_create(
            actor=None, provider=Provider.GITHUB, name="Demo GitHub", repositories=["acme/*"]
        )
        log(f"integration Demo GitHub: created (secret prefix {new.integration.secret_prefix}…)")
    rng = random.Random(42)  # noqa: S311  # nosec B311: demo data, not secrets
    # Fixed to the hour so that a second run of the seeder finds the same rows.
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    for slug, entity_name in REPOS:
        entity = Entity.objects.filter(name__iexact=entity_name).exclude(kind__in=["Group", "User"]).first()
        if entity is not None and not entity.annotations.get("github.com/project-slug"):
            log(f"entity {entity.ref} has no github.com/project-slug annotation; link {slug} on the integrations page")
        repo = providers.RepoInfo(
            provider=Provider.GITHUB, slug=slug, url=f"https://github.com/{slug}", default_branch="main"
        )
        runs = 0
        for day in range(30, -1, -1):
            for n in range(rng.randint(1, 4)):
                start = now - timedelta(days=day, hours=rng.randint(0, 20), minutes=n * 7)
                branch = "main" if rng.random() < 0.6 else rng.choice(["feature/ledger", "fix/timeouts"])
                failed = rng.random() < (0.15 if branch == "main" else 0.3)
                running = day == 0 and n == 0
                took = timedelta(seconds=rng.randint(180, 900))
                run_id = f"demo-{slug}-{day}-{n}"
                sha = hashlib.sha1(run_id.encode(), usedforsecurity=False).hexdigest()  # a fake commit id
                services.run_upsert(
                    event=providers.RunEvent(
                        repo=repo,
                        pipeline_name="CI",
                        run_id=run_id,
                        attempt=1,
                        number=1000 - day * 5 + n,
                        branch=branch,
                        commit_sha=sha,
                        commit_at=start - timedelta(hours=rng.randint(1, 30)),
                        event="push",
                        status=RunStatus.RUNNING if running else (RunStatus.FAILED if failed else RunStatus.SUCCESS),
                        created_at=start,
                        started_at=start,
                        finished_at=None if running else start + took,
                        url=f"https://github.com/{slug}/actions/runs/{run_id}",
                        actor="octocat",
                        jobs=[
                            providers.JobEvent(
                                repo=repo,
                                pipeline_name="CI",
                                run_id=run_id,
                                attempt=1,
                                job_id=f"{run_id}-{name}",
                                name=name,
                                status=RunStatus.RUNNING
                                if running
                                else (RunStatus.FAILED if failed and name == "test" else RunStatus.SUCCESS),
                                started_at=start,
                                finished_at=None if running else start + took / 2,
                                steps=[
                                    {"name": "Set up job", "status": "success"},
                                    {
                                        "name": f"Run {name}",
                                        "status": "failed" if failed and name == "test" else "success",
                                    },
                                ],
                            )
                            for name in ("lint", "test")
                        ],
                    )
                )
                runs += 1
                if branch == "main" and not failed and not running and rng.random() < 0.5:
                    deployed = start + took + timedelta(minutes=5)
                    bad = rng.random() < 0.1
                    services.deployment_upsert(
                        event=providers.DeploymentEvent(
                            repo=repo,
                            deployment_id=f"dep-{run_id}",
                            environment="production",
                            status="failed" if bad else "success",
                            created_at=deployed - timedelta(minutes=3),
                            finished_at=deployed,
                            commit_sha=sha,
                            commit_at=start - timedelta(hours=rng.randint(1, 30)),
                            ref="main",
                            actor="octocat",
                        )
                    )
        log(f"repository {slug}: {runs} runs")
    services.incident_record(
        source="demo",
        external_id="INC-1",
        title="Checkout timeouts after deploy",
        started_at=now - timedelta(days=3, hours=2),
        resolved_at=now - timedelta(days=3),
        repository_slug="acme/web-shop",
    )
    services.repositories_rematch()
    log("incident INC-1: recorded")
