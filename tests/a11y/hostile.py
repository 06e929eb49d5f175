"""The role matrix's world (``tests/security/world.py``), made hostile for the accessibility crawl.

Real data is longer and stranger than demo data: Git allows 255-character branch names with
nothing a browser may break a line at; Backstage allows 63-character entity names; people write
long compound words, right-to-left and CJK text, tag a service fifty times, paste 3,000 px
screenshots, wide tables and long command lines into runbooks. ``build`` makes the matrix's world
and then gives the objects the crawl opens (the service, its pipeline run, the page, the runbook
and its incident, the request, the template, the location) such values, through the apps'
services, as people would.
"""

from __future__ import annotations

import struct
import zlib
from datetime import timedelta
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from incidents import lifecycle
from tests.security import world as world_module

TEMPLATES = Path(__file__).resolve().parent / "templates"

LONG_WORD = "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenauszahlungsstellenverwaltungsordnung"
RTL = "خدمة المدفوعات تعالج كل عمليات الدفع والاسترداد — שירות התשלומים מטפל בכל העסקאות"
CJK = "支付服务处理所有付款交易，包括退款和争议。決済サービスはすべての取引を処理します。"
# 255 characters, as Git allows, with nothing a browser may break a line at (no space, no hyphen).
BRANCH = ("feature/" + "_".join(["a_very_long_topic_name"] * 12))[:255]
NAME63 = ("paymentsreconciliationandsettlementbatchprocessorforeveryregion" * 2)[:63]
TAGS = [f"tag-{n:02d}-{word}" for n, word in enumerate(["payments", "europe", "tier1", "pci", "batch"] * 10)]
LONG_LINE = (
    "kubectl --context production-eu-central-1 --namespace payments-reconciliation rollout restart "
    "deployment/payments-reconciliation-worker && kubectl --context production-eu-central-1 --namespace "
    "payments-reconciliation rollout status deployment/payments-reconciliation-worker --timeout=600s "
    "--watch=true | tee /var/log/oncall/$(date +%Y-%m-%dT%H:%M:%S)-payments-reconciliation-restart.log"
)
assert len(BRANCH) == 255 and len(NAME63) == 63 and len(TAGS) == 50


def png(width: int, height: int) -> bytes:
    """A real PNG of that size (one colour per row), without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((40 + y % 180, 90, 200)) * width for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _component_yaml() -> str:
    tags = ", ".join(TAGS)
    return f"""
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: svc-matrix
  title: Payments {LONG_WORD}
  description: "Service of team Matrix. {LONG_WORD} {LONG_WORD}. {RTL}. {CJK}"
  annotations:
    github.com/project-slug: acme/svc-matrix
    example.com/{NAME63[:40]}: "{BRANCH}"
  labels: {{example.com/{NAME63[:40]}: {NAME63}}}
  tags: [{tags}]
  links:
    - url: "https://dashboards.example.com/d/{BRANCH}"
      title: "Dashboard {LONG_WORD}"
spec:
  type: service
  lifecycle: production
  owner: team-matrix
  system: {NAME63}
  dependsOn: [component:{NAME63}, resource:{NAME63}, component:missing-{NAME63[:55]}]
  providesApis: [{NAME63}]
"""


def _others_yaml() -> str:
    return f"""
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {{name: {NAME63}, title: "{RTL}", description: "{CJK} {LONG_WORD}"}}
spec: {{owner: team-matrix}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: {NAME63}, title: "{CJK}", description: "{RTL}", tags: [{", ".join(TAGS)}]}}
spec: {{type: service, lifecycle: experimental, owner: team-matrix, system: {NAME63}}}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {{name: {NAME63}, description: "{LONG_WORD}"}}
spec:
  type: openapi
  lifecycle: production
  owner: team-matrix
  system: {NAME63}
  definition: |
    openapi: 3.0.0
    info: {{title: "{LONG_WORD}", version: "1"}}
    paths:
      /v1/{NAME63}/{NAME63}/{NAME63}/{{reconciliationBatchIdentifier}}: {{get: {{summary: "{LONG_LINE}"}}}}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {{name: {NAME63}, description: "{CJK}"}}
spec: {{type: database, owner: team-matrix, system: {NAME63}}}
"""


ARTICLE = f"""# {LONG_WORD}

{LONG_WORD}{LONG_WORD} {RTL}

{CJK}

{{image}}

| {" | ".join(f"Column {n} {LONG_WORD[:20]}" for n in range(14))} |
| {" | ".join("---" for _ in range(14))} |
| {" | ".join(f"value-{n}-{NAME63}" for n in range(14))} |

```bash
{LONG_LINE}
```

Inline: `{LONG_LINE}`

!!! warning "{LONG_WORD}"
    {LONG_LINE}
"""

RUNBOOK = f"""# Payments are down: {LONG_WORD}

## Mitigation

Restart the workers:

```bash
{LONG_LINE}
```

- [ ] Look at {BRANCH}
- [ ] Run `{LONG_LINE}`
- [ ] Tell {RTL}
"""


def build(users: dict):
    from catalog import services as catalog
    from catalog.models import CatalogLocation, Entity
    from knowledge import services as knowledge
    from pipelines import providers
    from pipelines import services as pipelines
    from portal import services as portal
    from provisioning import services as provisioning
    from provisioning.models import EnvironmentTemplate, Run

    w = world_module.build(users)
    dev, admin = users["developer"], users["platform_admin"]

    # Catalog: the team's service with everything long, and 63-character neighbours of each kind.
    text = world_module.CATALOG_YAML.replace(world_module.CATALOG_YAML.split("---")[-1], _component_yaml())
    result = catalog.catalog_import_text(text=text, name="matrix")
    assert not result.problems, result.problems
    result = catalog.catalog_import_text(text=_others_yaml(), name="matrix-hostile")
    assert not result.problems, result.problems
    w.entity.refresh_from_db()
    w.extra_entities = [
        (kind.lower(), Entity.objects.get(ref_key=f"{kind.lower()}:default/{NAME63}"))
        for kind in ("System", "Component", "API", "Resource")
    ]
    w.location = CatalogLocation.objects.create(
        provider="github",
        host="github.com",
        repository=f"acme/{NAME63}",
        clone_url=f"https://github.com/acme/{NAME63}.git",
        web_url=f"https://github.com/acme/{NAME63}",
        ref=BRANCH,
        path=f"services/{NAME63}/{NAME63}/catalog-info.yaml",
        files={f"services/{NAME63}/{NAME63}/catalog-info.yaml": {"kind": "Component", "version": "1"}},
        problems=[
            {
                "file": f"services/{NAME63}/{NAME63}/catalog-info.yaml",
                "document": 1,
                "entity": f"component:default/{NAME63}",
                "field": f"metadata.annotations.{NAME63}",
                "reason": f"{LONG_WORD}: {LONG_LINE}",
            }
        ],
    )
    w.scorecard = catalog.scorecard_save(
        actor=admin,
        name=f"Readiness {LONG_WORD}"[:100],  # the longest name a scorecard may have
        rules_text="bronze: has_owner\nsilver: has_description",
        description=f"{RTL} {CJK}",
    )

    # Provisioning: a template of long texts; a request with a 63-character name and a long plan log.
    provisioning.templates_reload(actor=admin, directory=TEMPLATES)
    w.template = EnvironmentTemplate.objects.get(name__startswith="hostile-template")
    request = provisioning.request_submit(
        user=dev,
        template=w.template,
        entity=w.entity,
        team=w.team,
        name=("pr-" + NAME63)[:40],  # the longest name a request may have
        justification=f"{LONG_WORD} {RTL} {CJK} {BRANCH}",
        ttl_hours=None,
        parameters={"region": "us-east-1-with-a-rather-long-name-for-a-region-of-the-cloud-provider", "branch": BRANCH},
    )
    plan = Run.objects.get(request=request, kind="plan")
    provisioning.run_claim(run_id=plan.pk, worker="a11y-crawl")
    provisioning.log_append(
        run_id=plan.pk,
        first_number=1,
        lines=[
            f'  # module.{NAME63}.kubernetes_config_map.{NAME63}["{BRANCH}"] will be created',
            LONG_LINE,
            "Plan: 1 to add, 0 to change, 0 to destroy.",
        ],
    )
    provisioning.run_plan_succeeded(run_id=plan.pk, summary={"add": 1, "change": 0, "destroy": 0})
    request.refresh_from_db()
    w.pending, w.run = request, plan

    # Pipelines: runs of 255-character branches with long titles, a deployment of one.
    repo = providers.RepoInfo(provider="github", slug="acme/svc-matrix", default_branch="main")
    now = timezone.now()
    for number, status in enumerate(("failed", "success", "running"), 2):
        run = pipelines.run_upsert(
            event=providers.RunEvent(
                repo=repo,
                pipeline_name=f"CI {LONG_WORD}",
                run_id=str(1000 + number),
                attempt=1,
                number=number,
                status=status,
                conclusion={"failed": "failure", "success": "success"}.get(status, ""),
                created_at=now - timedelta(minutes=30 - number),
                started_at=now - timedelta(minutes=30 - number),
                finished_at=now - timedelta(minutes=20 - number) if status != "running" else None,
                branch=BRANCH,
                commit_sha="b" * 40,
                title=f"{LONG_WORD} {RTL} {CJK}",
                actor=NAME63,
                event="pull_request",
                jobs=[
                    providers.JobEvent(
                        repo=repo,
                        pipeline_name=f"CI {LONG_WORD}",
                        run_id=str(1000 + number),
                        attempt=1,
                        job_id=f"{number}01",
                        name=f"test ({NAME63}, {LONG_WORD})",
                        status="completed",
                        conclusion="failure" if status == "failed" else "success",
                        steps=[{"name": LONG_LINE, "status": "completed", "conclusion": "success", "number": 1}],
                    )
                ],
            )
        )
        if status == "failed":
            w.pipeline_run = run
    pipelines.deployment_upsert(
        event=providers.DeploymentEvent(
            repo=repo,
            deployment_id="2002",
            environment=f"production-{NAME63}",
            status="success",
            created_at=now - timedelta(minutes=4),
            finished_at=now - timedelta(minutes=3),
            ref=BRANCH,
            commit_sha="b" * 40,
        )
    )

    # Knowledge: a page with a 3,000 px image, a wide table and long lines, in two revisions (the
    # diff); a runbook whose mitigation is a long command, with an incident.
    title = f"Overview {LONG_WORD}"
    w.page = knowledge.page_create(
        actor=dev,
        space=w.space,
        title=title,
        body=ARTICLE.replace("{image}", ""),
        tags=TAGS[:20],
        entity_ids=[w.entity.pk],
    )
    w.attachment = knowledge.attachment_add(
        actor=dev, page=w.page, upload=SimpleUploadedFile("wide.png", png(3000, 40), content_type="image/png")
    )
    knowledge.page_update(
        actor=dev,
        page=w.page,
        title=title,
        body=ARTICLE.replace(
            "{image}", f"![A 3,000 px wide screenshot](/knowledge/s/{w.space.key}/p/{w.page.slug}/files/wide.png)"
        ).replace("```bash\n", f"```bash\n{LONG_LINE} --dry-run\n"),
        base_revision_id=w.page.current_revision_id,
        message=f"{LONG_WORD} {BRANCH}",
    )
    w.page.refresh_from_db()
    w.runbook = knowledge.page_create(
        actor=dev,
        space=w.space,
        title=f"Payments are down {LONG_WORD}",
        kind="runbook",
        body=RUNBOOK,
        entity_ids=[w.entity.pk],
    )
    w.incident = lifecycle.incident_start(
        actor=dev, runbook=w.runbook, entity=w.entity, severity="sev2", summary=f"{LONG_WORD} {RTL} {CJK}"
    )

    # The portal: a notification and a token with long names.
    portal.notify(users=[dev, admin], event="a11y", title=f"{LONG_WORD} {BRANCH}", body=LONG_LINE, url="/")
    portal.token_create(user=dev, name=f"ci-{LONG_WORD}")
    return w
