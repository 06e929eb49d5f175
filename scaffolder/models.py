"""Software templates (golden paths) and the runs that create a repository from one.

A template is loaded from a folder and checked once (``sandbox.load_template``); its files are
kept here, so a run renders exactly what its preview showed. A run is a row with its steps and
log lines; the page and the API read them while a worker fills them in.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SoftwareTemplate(models.Model):
    """A published software template: descriptor, JSON Schema, and the skeleton's files."""

    name = models.SlugField(max_length=63, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.CharField(max_length=200, blank=True, help_text="The owning team, kind:namespace/name")
    tags = models.JSONField(default=list, blank=True)
    descriptor = models.JSONField(default=dict)
    files = models.JSONField(default=dict, help_text="skeleton path -> base64 content")
    digest = models.CharField(max_length=64)
    source_path = models.CharField(max_length=500, blank=True)
    is_active = models.BooleanField(default=True)
    last_load_error = models.TextField(blank=True)
    loaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["title", "name"]

    def __str__(self) -> str:
        return self.title

    @property
    def parameters_schema(self) -> dict:
        return self.descriptor.get("parameters", {})

    @property
    def ordered_parameters(self) -> list[tuple[str, dict]]:
        return list(self.parameters_schema.get("properties", {}).items())

    @property
    def approval(self) -> dict:
        """The environments' policy: auto, any one member of a group, or N distinct members."""
        approval = dict(self.descriptor.get("approval") or {"policy": "auto"})
        approval.setdefault("group", "Approvers")
        approval["count"] = approval.get("count", 2) if approval["policy"] == "distinct" else 1
        return approval


class RunState(models.TextChoices):
    DRAFT = "draft", "Preview"
    PENDING_APPROVAL = "pending_approval", "Waiting for approval"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    CANCELED = "canceled", "Canceled"


class ScaffolderRun(models.Model):
    """One use of a template: its values, where the repository goes, its steps and what they made."""

    template = models.ForeignKey(SoftwareTemplate, on_delete=models.PROTECT, related_name="runs")
    template_digest = models.CharField(max_length=64)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="scaffolder_runs")
    name = models.CharField(max_length=63, help_text="The new component's and repository's name")
    owner = models.CharField(max_length=200, help_text="The owning team, group:namespace/name")
    parameters = models.JSONField(default=dict, help_text="Secret values are masked here")
    secret_parameters = models.TextField(blank=True, help_text="Encrypted secret values")
    target = models.JSONField(default=dict, help_text="Where the repository goes: kind, host, owner, url, ...")
    state = models.CharField(max_length=20, choices=RunState.choices, default=RunState.DRAFT, db_index=True)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.template.name} → {self.name}"

    @property
    def is_finished(self) -> bool:
        return self.state in (RunState.SUCCEEDED, RunState.FAILED, RunState.REJECTED, RunState.CANCELED)

    @property
    def state_badge(self) -> str:
        return {
            RunState.SUCCEEDED: "ok",
            RunState.FAILED: "bad",
            RunState.REJECTED: "bad",
            RunState.PENDING_APPROVAL: "warn",
        }.get(self.state, "")


class StepState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class RunStep(models.Model):
    run = models.ForeignKey(ScaffolderRun, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=30)
    title = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=20, choices=StepState.choices, default=StepState.PENDING)
    message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="scaffolder_step_unique_key")]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.key}"


class RunLogLine(models.Model):
    run = models.ForeignKey(ScaffolderRun, on_delete=models.CASCADE, related_name="log_lines")
    step = models.CharField(max_length=30, blank=True)
    text = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return self.text[:80]


class RunApproval(models.Model):
    run = models.ForeignKey(ScaffolderRun, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "approver"], name="scaffolder_one_approval_per_person")]

    def __str__(self) -> str:
        return f"{self.run_id} approved by {self.approver_id}"
