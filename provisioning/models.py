"""Environment templates, requests, approvals and Terraform runs.

A template is reviewed code loaded from a directory; every distinct content
becomes a new ``TemplateVersion`` that keeps the module's files, so a request
always runs exactly the version it was submitted with. Requests move through
the states of ``RequestState``; the transitions live in ``services.py``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class EnvironmentTemplate(models.Model):
    """A template as published: its current version and the outcome of its last load."""

    name = models.SlugField(max_length=63, unique=True)
    current_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True, help_text="Inactive templates take no new requests.")
    source_path = models.CharField(max_length=500, blank=True)
    last_load_error = models.TextField(blank=True)
    last_loaded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApprovalPolicy(models.TextChoices):
    AUTO = "auto", "Auto-approve"
    ANY = "any", "Any one member of the group"
    DISTINCT = "distinct", "N distinct members of the group"


class TemplateVersion(models.Model):
    """One immutable version of a template: descriptor, JSON Schema and module files."""

    template = models.ForeignKey(EnvironmentTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    digest = models.CharField(max_length=64, help_text="sha256 of the descriptor and the module files")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    environment_type = models.CharField(max_length=40)
    owner_ref = models.CharField(max_length=200, blank=True, help_text="The owning team, kind:namespace/name")
    owner_team = models.ForeignKey("catalog.Entity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    parameters_schema = models.JSONField(default=dict)
    parameter_order = models.JSONField(
        default=list,
        blank=True,
        help_text="Parameter names in the descriptor's order (a JSON column may reorder keys).",
    )
    approval_policy = models.CharField(max_length=20, choices=ApprovalPolicy.choices)
    approval_group = models.CharField(max_length=150, blank=True)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    default_ttl_hours = models.PositiveIntegerField()
    max_ttl_hours = models.PositiveIntegerField()
    kubernetes = models.JSONField(default=dict, blank=True, help_text="Used by the Kubernetes step (next issue).")
    descriptor = models.JSONField(default=dict)
    files = models.JSONField(default=dict, help_text="The module's files: relative path → text")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="prov_template_version_unique")]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.number}"

    @property
    def ordered_parameters(self) -> list[tuple[str, dict]]:
        """(name, schema) of each parameter, in the order the template's author gave them."""
        properties = self.parameters_schema.get("properties", {})
        order = [name for name in self.parameter_order or [] if name in properties]
        return [(name, properties[name]) for name in order + [n for n in properties if n not in order]]


class RequestState(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    PLANNING = "planning", "Planning"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    APPLYING = "applying", "Applying"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    DESTROYING = "destroying", "Destroying"
    DESTROYED = "destroyed", "Destroyed"


# States whose environment name can be reused by a new request.
ENDED_STATES = (RequestState.REJECTED, RequestState.CANCELED, RequestState.DESTROYED)
# States in which a worker is (or soon will be) doing something: the page follows them live.
MOVING_STATES = (
    RequestState.SUBMITTED,
    RequestState.PLANNING,
    RequestState.APPROVED,
    RequestState.APPLYING,
    RequestState.DESTROYING,
)


class Cluster(models.Model):
    """A Kubernetes cluster Bridge may create namespaces in, reached by kubeconfig context or in-cluster."""

    name = models.SlugField(max_length=63, unique=True, help_text="Templates name this in kubernetes.clusters.")
    context = models.CharField(max_length=200, blank=True, help_text="The kubeconfig context (blank: the current one).")
    kubeconfig = models.CharField(
        max_length=500,
        blank=True,
        help_text="Kubeconfig path on the workers (blank: KUBECONFIG or ~/.kube/config).",
    )
    in_cluster = models.BooleanField(default=False, help_text="Use the pod's service account instead of a kubeconfig.")
    namespace_prefix = models.CharField(max_length=30, blank=True, default="bridge-")
    server_dry_run = models.BooleanField(
        default=True,
        help_text="At plan time, have the API server validate every object (server-side dry-run, nothing is "
        "stored). Switch off only for an API emulator that ignores dry-run requests.",
    )
    is_active = models.BooleanField(default=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_result = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def connection(self):
        from provisioning.kubernetes import ClusterConnection

        return ClusterConnection(
            name=self.name, context=self.context, in_cluster=self.in_cluster, kubeconfig=self.kubeconfig
        )


class EnvironmentRequest(models.Model):
    """A developer's request for an environment, from submission to an active environment."""

    template = models.ForeignKey(EnvironmentTemplate, on_delete=models.PROTECT, related_name="requests")
    template_version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="requests")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    entity = models.ForeignKey("catalog.Entity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    team = models.ForeignKey(
        "catalog.Entity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The requester's team that owns the environment; its members follow the request.",
    )
    name = models.CharField(max_length=40)
    justification = models.TextField(max_length=2000)
    parameters = models.JSONField(default=dict, help_text="Secret parameters hold only a mask here.")
    secret_parameters = models.TextField(
        blank=True,
        help_text="The secret parameters' values, encrypted (a Fernet token of their JSON); emptied when it ends.",
    )
    ttl_hours = models.PositiveIntegerField()
    state = models.CharField(max_length=30, choices=RequestState.choices, default=RequestState.SUBMITTED)
    failure_reason = models.TextField(blank=True)
    plan_summary = models.JSONField(null=True, blank=True)
    outputs = models.JSONField(default=dict, blank=True, help_text="Sensitive values are never stored.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="environments")
    namespace = models.CharField(max_length=63, blank=True)
    kubernetes_state = models.CharField(
        max_length=20, blank=True, help_text="applied, skipped or failed: what the Kubernetes step did."
    )
    kubernetes_note = models.TextField(blank=True)
    expiry_warn_at = models.DateTimeField(
        null=True, blank=True, help_text="The expiry warning is due: 10 % of the lifetime before the end, at most 24 h."
    )
    expiry_warned_at = models.DateTimeField(null=True, blank=True)
    drift = models.JSONField(default=dict, blank=True, help_text="The last drift check: differences found.")
    drift_checked_at = models.DateTimeField(null=True, blank=True)
    is_drifted = models.BooleanField(default=False, db_index=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=~Q(state__in=ENDED_STATES), name="prov_request_live_name_unique"
            )
        ]
        indexes = [
            models.Index(fields=["state", "created_at"], name="prov_request_state_idx"),
            models.Index(fields=["state", "expires_at"], name="prov_request_expiry_idx"),
            models.Index(fields=["state", "expiry_warn_at"], name="prov_request_warn_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.template.name})" if self.template_id else self.name

    @property
    def is_moving(self) -> bool:
        return self.state in MOVING_STATES

    @property
    def parameter_items(self) -> list[tuple[str, object]]:
        """(name, value) of the parameters in the template's order; secrets hold only a mask."""
        values = self.parameters or {}
        order = [name for name, _prop in self.template_version.ordered_parameters]
        known = [(name, values[name]) for name in order if name in values]
        return known + [(name, value) for name, value in values.items() if name not in order]

    @property
    def state_badge(self) -> str:
        if self.state == RequestState.ACTIVE:
            return "ok"
        if self.state in (RequestState.FAILED, RequestState.REJECTED):
            return "bad"
        if self.state in (RequestState.AWAITING_APPROVAL, *MOVING_STATES):
            return "warn"
        return "neutral"


class RequestTransition(models.Model):
    """One step of a request's timeline (also written to the audit log)."""

    request = models.ForeignKey(EnvironmentRequest, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=30, blank=True)
    to_state = models.CharField(max_length=30)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state or '-'} → {self.to_state}"


class RunKind(models.TextChoices):
    PLAN = "plan", "Plan"
    APPLY = "apply", "Apply"
    DESTROY = "destroy", "Destroy"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class Run(models.Model):
    """One Terraform run (plan or apply) of a request, with its log."""

    request = models.ForeignKey(EnvironmentRequest, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=20, choices=RunKind.choices)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    command = models.TextField(blank=True, help_text="The Terraform commands, without values")
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    host = models.CharField(
        max_length=200, blank=True, help_text="The machine whose working directory and Terraform process the run uses."
    )
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the run was handed to the broker; empty while it could not be."
    )
    takeover_requested_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Its worker stopped responding; a worker on the same host was asked to take over.",
    )
    log_cursor = models.JSONField(
        default=dict, blank=True, help_text="The step and output line the stored log has reached."
    )
    cancel_requested = models.BooleanField(default=False)
    line_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} run #{self.pk} of {self.request_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED)

    @property
    def status_badge(self) -> str:
        return {
            RunStatus.SUCCEEDED: "ok",
            RunStatus.FAILED: "bad",
            RunStatus.RUNNING: "warn",
            RunStatus.QUEUED: "warn",
        }.get(self.status, "neutral")

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class RunLogLine(models.Model):
    """One line of a run's output, numbered from 1 in the order it was produced."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="lines")
    number = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="prov_log_line_unique")]

    def __str__(self) -> str:
        return f"{self.number}: {self.text[:80]}"


class ApprovalDecision(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"


class Approval(models.Model):
    """One approver's decision on one plan of a request."""

    request = models.ForeignKey(EnvironmentRequest, on_delete=models.CASCADE, related_name="approvals")
    plan_run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=ApprovalDecision.choices)
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["plan_run", "approver"], name="prov_approval_one_per_approver"),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.approver_id}"
