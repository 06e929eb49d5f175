"""Realistic webhook payloads (trimmed copies of what GitHub and GitLab send, with their field names)."""

from __future__ import annotations

import copy

REPO = {
    "id": 1296269,
    "name": "payments",
    "full_name": "acme/payments",
    "private": True,
    "html_url": "https://github.com/acme/payments",
    "default_branch": "main",
    "owner": {"login": "acme", "id": 1, "type": "Organization"},
}
SENDER = {"login": "octocat", "id": 583231, "type": "User"}


def workflow_run(action="completed", status="completed", conclusion="success", run_id=30433642, attempt=1, **extra):
    run = {
        "id": run_id,
        "name": "CI",
        "node_id": "WFR_kwLOAAAA",
        "head_branch": "main",
        "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
        "path": ".github/workflows/ci.yml",
        "display_title": "Fix the ledger rounding",
        "run_number": 562,
        "event": "push",
        "status": status,
        "conclusion": conclusion if status == "completed" else None,
        "workflow_id": 159038,
        "check_suite_id": 414944374,
        "url": f"https://api.github.com/repos/acme/payments/actions/runs/{run_id}",
        "html_url": f"https://github.com/acme/payments/actions/runs/{run_id}",
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:06:30Z" if status == "completed" else "2026-11-20T10:00:05Z",
        "run_attempt": attempt,
        "run_started_at": "2026-11-20T10:00:00Z",
        "actor": SENDER,
        "triggering_actor": SENDER,
        "head_commit": {
            "id": "acb5820ced9479c074f688cc328bf03f341a511d",
            "tree_id": "d23f6eedb1e1b9610bbc754ddb5197bfe7271223",
            "message": "Fix the ledger rounding",
            "timestamp": "2026-11-20T09:30:00Z",
            "author": {"name": "Mona", "email": "mona@example.com"},
        },
        "repository": {"id": 1296269, "full_name": "acme/payments"},
    }
    run.update(extra)
    return {
        "action": action,
        "workflow_run": run,
        "workflow": {"id": 159038, "name": "CI", "path": ".github/workflows/ci.yml", "state": "active"},
        "repository": copy.deepcopy(REPO),
        "organization": {"login": "acme", "id": 1},
        "sender": SENDER,
    }


def workflow_job(action="completed", status="completed", conclusion="success", run_id=30433642, job_id=29679449):
    return {
        "action": action,
        "workflow_job": {
            "id": job_id,
            "run_id": run_id,
            "workflow_name": "CI",
            "head_branch": "main",
            "run_url": f"https://api.github.com/repos/acme/payments/actions/runs/{run_id}",
            "run_attempt": 1,
            "node_id": "CR_kwDOAAAA",
            "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
            "html_url": f"https://github.com/acme/payments/actions/runs/{run_id}/job/{job_id}",
            "status": status,
            "conclusion": conclusion if status == "completed" else None,
            "created_at": "2026-11-20T10:00:01Z",
            "started_at": "2026-11-20T10:00:10Z",
            "completed_at": "2026-11-20T10:05:10Z" if status == "completed" else None,
            "name": "test (3.12)",
            "steps": [
                {
                    "name": "Set up job",
                    "status": "completed",
                    "conclusion": "success",
                    "number": 1,
                    "started_at": "2026-11-20T10:00:10Z",
                    "completed_at": "2026-11-20T10:00:12Z",
                },
                {
                    "name": "Run pytest",
                    "status": status,
                    "conclusion": conclusion if status == "completed" else None,
                    "number": 2,
                    "started_at": "2026-11-20T10:00:12Z",
                    "completed_at": "2026-11-20T10:05:09Z" if status == "completed" else None,
                },
            ],
            "labels": ["ubuntu-latest"],
            "runner_name": "GitHub Actions 2",
        },
        "repository": copy.deepcopy(REPO),
        "sender": SENDER,
    }


def deployment_status(state="success", deployment_id=145988746, environment="production", at="2026-11-20T11:00:00Z"):
    return {
        "action": "created",
        "deployment_status": {
            "id": 2037400000 + hash(state) % 1000,
            "state": state,
            "description": "",
            "environment": environment,
            "target_url": "https://payments.acme.example",
            "log_url": "https://github.com/acme/payments/actions/runs/30433642",
            "created_at": at,
            "updated_at": at,
            "creator": SENDER,
        },
        "deployment": {
            "id": deployment_id,
            "sha": "acb5820ced9479c074f688cc328bf03f341a511d",
            "ref": "main",
            "task": "deploy",
            "environment": environment,
            "created_at": "2026-11-20T10:50:00Z",
            "updated_at": at,
            "creator": SENDER,
        },
        "repository": copy.deepcopy(REPO),
        "sender": SENDER,
    }


def push():
    return {
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": "acb5820ced9479c074f688cc328bf03f341a511d",
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": [
            {
                "id": "acb5820ced9479c074f688cc328bf03f341a511d",
                "message": "Fix the ledger rounding",
                "timestamp": "2026-11-20T09:30:00+01:00",
                "author": {"name": "Mona", "email": "mona@example.com"},
            }
        ],
        "head_commit": {
            "id": "acb5820ced9479c074f688cc328bf03f341a511d",
            "message": "Fix the ledger rounding",
            "timestamp": "2026-11-20T09:30:00+01:00",
        },
        "repository": copy.deepcopy(REPO),
        "pusher": {"name": "mona", "email": "mona@example.com"},
        "sender": SENDER,
    }


def ping():
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": 109948940,
        "hook": {"type": "Repository", "id": 109948940, "events": ["workflow_run"], "active": True},
        "repository": copy.deepcopy(REPO),
        "sender": SENDER,
    }


GITLAB_PROJECT = {
    "id": 301,
    "name": "checkout",
    "path_with_namespace": "shop/checkout",
    "web_url": "https://gitlab.example.com/shop/checkout",
    "default_branch": "main",
    "visibility_level": 0,
}


def gitlab_pipeline(status="success", pipeline_id=31, finished_at="2026-11-20 10:08:00 UTC"):
    builds = [
        {
            "id": 380,
            "stage": "test",
            "name": "rspec",
            "status": status if status != "running" else "running",
            "created_at": "2026-11-20 10:00:01 UTC",
            "started_at": "2026-11-20 10:00:05 UTC",
            "finished_at": finished_at if status in ("success", "failed") else None,
            "duration": 475.0,
            "when": "on_success",
            "manual": False,
            "allow_failure": False,
        },
        {
            "id": 381,
            "stage": "build",
            "name": "build-image",
            "status": "created" if status == "running" else status,
            "created_at": "2026-11-20 10:00:01 UTC",
            "started_at": None,
            "finished_at": None,
        },
    ]
    return {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": pipeline_id,
            "iid": 12,
            "name": None,
            "ref": "main",
            "tag": False,
            "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
            "before_sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
            "source": "push",
            "status": status,
            "detailed_status": status,
            "stages": ["test", "build"],
            "created_at": "2026-11-20 10:00:00 UTC",
            "finished_at": finished_at if status in ("success", "failed") else None,
            "duration": 480 if status in ("success", "failed") else None,
            "url": f"https://gitlab.example.com/shop/checkout/-/pipelines/{pipeline_id}",
        },
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "project": copy.deepcopy(GITLAB_PROJECT),
        "commit": {
            "id": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
            "message": "test\n",
            "timestamp": "2026-11-20T09:40:00+00:00",
            "url": "https://gitlab.example.com/shop/checkout/-/commit/bcbb5ec396a2c0f828686f14fac9b80b780504f2",
        },
        "builds": builds,
    }


def gitlab_job(status="success", pipeline_id=31, build_id=380):
    return {
        "object_kind": "build",
        "ref": "main",
        "tag": False,
        "before_sha": "2293ada6b400935a1378653304eaf6221e0fdb8f",
        "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
        "build_id": build_id,
        "build_name": "rspec",
        "build_stage": "test",
        "build_status": status,
        "build_created_at": "2026-11-20 10:00:01 UTC",
        "build_started_at": "2026-11-20 10:00:05 UTC",
        "build_finished_at": "2026-11-20 10:07:59 UTC" if status in ("success", "failed") else None,
        "build_duration": 474.0,
        "build_allow_failure": False,
        "pipeline_id": pipeline_id,
        "project_id": 301,
        "project_name": "Shop / checkout",
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "commit": {"id": 31, "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2", "status": status},
        "repository": {
            "name": "checkout",
            "url": "git@gitlab.example.com:shop/checkout.git",
            "homepage": "https://gitlab.example.com/shop/checkout",
        },
        "project": copy.deepcopy(GITLAB_PROJECT),
    }


def gitlab_deployment(status="success", deployment_id=15, at="2026-11-20 10:20:00 +0000"):
    return {
        "object_kind": "deployment",
        "status": status,
        "status_changed_at": at,
        "deployment_id": deployment_id,
        "deployable_id": 796,
        "deployable_url": "https://gitlab.example.com/shop/checkout/-/jobs/796",
        "environment": "production",
        "environment_tier": "production",
        "environment_external_url": "https://checkout.example.com",
        "project": copy.deepcopy(GITLAB_PROJECT),
        "short_sha": "bcbb5ec3",
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "commit_url": "https://gitlab.example.com/shop/checkout/-/commit/bcbb5ec396a2c0f828686f14fac9b80b780504f2",
        "commit_title": "Add a checkout timeout",
        "ref": "main",
    }
