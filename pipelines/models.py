"""Pipelines: CI integrations, webhook deliveries, pipeline runs, jobs, deployments and incidents.

Status columns come with a ``status_rank`` (0 waiting, 1 running, 2 finished) so
that processing can update a row with a conditional UPDATE ("where the stored
rank is not higher") and a late or repeated event never moves a row backwards.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse

from catalog.models import Entity


class Provider(models.TextChoices):
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"
    GENERIC = "generic", "Generic JSON"


class Integration(models.Model):
    """A CI system that sends webhooks to Bridge. Its secret is stored encrypted (see ``secrets.py``)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    name = models.CharField(max_length=100, unique=True)
    secret_encrypted = models.TextField(help_text="Fernet token; never shown after creation.")
    secret_prefix = models.CharField(max_length=8, blank=True, help_text="First characters, to tell secrets apart.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"

    def receiver_path(self) -> str:
        return reverse(f"pipelines-api:hook-{self.provider}", kwargs={"public_id": self.public_id})


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class Delivery(models.Model):
    """One accepted webhook delivery, stored raw before it is processed."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=200)
    event = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=1, help_text="How many times the sender delivered it.")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "delivery_id"], name="pipelines_delivery_unique"),
        ]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.integration.name}:{self.delivery_id} {self.event}"


class Repository(models.Model):
    """A repository (GitHub ``owner/name``, GitLab ``group/project``, or a generic name) seen in deliveries."""

    provider = models.CharField(max_length=20, choices=Provider.choices)
    slug = models.CharField(max_length=255)
    url = models.URLField(max_length=500, blank=True)
    default_branch = models.CharField(max_length=255, blank=True)
    entity = models.ForeignKey(Entity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    linked_manually = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "repositories"
        ordering = ["provider", "slug"]
        constraints = [models.UniqueConstraint(fields=["provider", "slug"], name="pipelines_repository_unique")]

    def __str__(self) -> str:
        return self.slug


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


FINISHED = {RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED}


def status_rank(status: str) -> int:
    if status == RunStatus.QUEUED:
        return 0
    if status == RunStatus.RUNNING:
        return 1
    return 2


class Pipeline(models.Model):
    """One workflow of one repository (a GitHub workflow, a GitLab project's CI, a Jenkins job)."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="pipelines")
    name = models.CharField(max_length=255)
    last_run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    default_branch_run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # 0 failing default branch, 1 running, 2 anything else: the global view sorts on it.
    attention = models.PositiveSmallIntegerField(default=2)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["attention", "-last_activity_at"]
        constraints = [models.UniqueConstraint(fields=["repository", "name"], name="pipelines_pipeline_unique")]
        indexes = [models.Index(fields=["attention", "-last_activity_at"])]

    def __str__(self) -> str:
        return f"{self.repository.slug} · {self.name}"


class Run(models.Model):
    """One run (one attempt) of a pipeline."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="runs")
    provider_id = models.CharField(max_length=100)
    attempt = models.PositiveIntegerField(default=1)
    number = models.PositiveIntegerField(null=True, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    commit_sha = models.CharField(max_length=64, blank=True)
    event = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    status_rank = models.PositiveSmallIntegerField(default=0)
    conclusion = models.CharField(max_length=40, blank=True, help_text="The provider's own word for the outcome.")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    url = models.URLField(max_length=500, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "provider_id", "attempt"], name="pipelines_run_unique"),
        ]
        indexes = [
            models.Index(fields=["pipeline", "-created_at"]),
            models.Index(fields=["status", "-finished_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline} #{self.number or self.provider_id}"

    def get_absolute_url(self) -> str:
        return reverse("pipelines:run", kwargs={"run_id": self.pk})

    @property
    def is_finished(self) -> bool:
        return self.status_rank >= 2


class Branch(models.Model):
    """The latest run of each branch of a pipeline, kept up to date as runs arrive."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="branches")
    name = models.CharField(max_length=255)
    last_run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name_plural = "branches"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "name"], name="pipelines_branch_unique")]

    def __str__(self) -> str:
        return self.name


class Job(models.Model):
    """A job of a run; ``steps`` is the provider's list of steps (name, status, conclusion, times)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="jobs")
    provider_id = models.CharField(max_length=100)
    name = models.CharField(max_length=255)
    stage = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    status_rank = models.PositiveSmallIntegerField(default=0)
    conclusion = models.CharField(max_length=40, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    url = models.URLField(max_length=500, blank=True)
    steps = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["started_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["run", "provider_id"], name="pipelines_job_unique")]

    def __str__(self) -> str:
        return self.name


class Commit(models.Model):
    """When a commit was made; change lead time starts here."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="commits")
    sha = models.CharField(max_length=64)
    committed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "sha"], name="pipelines_commit_unique")]

    def __str__(self) -> str:
        return self.sha[:12]


class DeploymentStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Deployment(models.Model):
    """A deployment of a commit to an environment."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="deployments")
    provider_id = models.CharField(max_length=100)
    environment = models.CharField(max_length=100)
    is_production = models.BooleanField(default=False)
    commit_sha = models.CharField(max_length=64, blank=True)
    ref = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=DeploymentStatus.choices, default=DeploymentStatus.PENDING)
    status_rank = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    commit_at = models.DateTimeField(null=True, blank=True, help_text="When the deployed commit was made.")
    url = models.URLField(max_length=500, blank=True)
    actor = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "provider_id"], name="pipelines_deployment_unique"),
        ]
        indexes = [models.Index(fields=["repository", "is_production", "finished_at"])]

    def __str__(self) -> str:
        return f"{self.repository.slug} → {self.environment} ({self.status})"


class Incident(models.Model):
    """A production incident, from the generic API or from the knowledge base's incident runs."""

    source = models.CharField(max_length=40, default="api")
    external_id = models.CharField(max_length=200)
    title = models.CharField(max_length=300)
    entity = models.ForeignKey(Entity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    repository = models.ForeignKey(Repository, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    started_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    url = models.URLField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="pipelines_incident_unique")]

    def __str__(self) -> str:
        return self.title
