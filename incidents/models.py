"""Incidents, their runbook steps, and the response to them: receivers, alerts, acknowledgement,
assignment and the timeline.

This app imports catalog and knowledge (runbooks, postmortems) and is imported by neither.
Until migration 0003 the incident tables were ``knowledge_incident`` and ``knowledge_incidentstep``.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from catalog.models import Entity
from knowledge.models import Page, Revision


class Severity(models.TextChoices):
    SEV1 = "sev1", "SEV1 (critical)"
    SEV2 = "sev2", "SEV2 (major)"
    SEV3 = "sev3", "SEV3 (minor)"
    SEV4 = "sev4", "SEV4 (low)"


class Outcome(models.TextChoices):
    RESOLVED = "resolved", "Resolved"
    MITIGATED = "mitigated", "Mitigated"
    FALSE_ALARM = "false_alarm", "False alarm"
    ESCALATED = "escalated", "Escalated"


class Incident(models.Model):
    """A runbook being worked through, or an alert being handled: who started it (nobody, for an
    alert), for which entity, how it ended."""

    # None for an incident opened by an alert of a service that has no runbook for it (yet).
    runbook = models.ForeignKey(Page, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents")
    revision = models.ForeignKey(Revision, null=True, on_delete=models.SET_NULL, related_name="+")
    entity = models.ForeignKey(Entity, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.SEV3)
    summary = models.CharField(max_length=300, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(db_index=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    outcome_notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        # The names from when the table was knowledge_incident: renaming them would buy nothing.
        indexes = [models.Index(fields=["entity", "started_at"], name="knowledge_i_entity__b6d885_idx")]

    def __str__(self) -> str:
        return f"Incident #{self.pk} ({self.title})"

    def get_absolute_url(self) -> str:
        return reverse("incidents:incident", args=[self.pk])

    @property
    def title(self) -> str:
        """What the incident is called: its summary, else its runbook's title."""
        if self.summary:
            return self.summary
        return self.runbook.title if self.runbook_id else "Incident"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class IncidentStep(models.Model):
    """A task-list step of the runbook, copied when the incident starts."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="steps")
    number = models.PositiveIntegerField()
    text = models.CharField(max_length=1000)
    done = models.BooleanField(default=False)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    done_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["incident", "number"], name="knowledge_step_unique_number")]

    def __str__(self) -> str:
        return self.text


class AlertReceiver(models.Model):
    """Where one Alertmanager sends its webhook, and how it proves itself (``http_config``)."""

    class Auth(models.TextChoices):
        BEARER = "bearer", "Bearer token (http_config.authorization)"
        BASIC = "basic", "Basic auth (http_config.basic_auth; the username is the receiver's name)"

    name = models.SlugField(max_length=60, unique=True)
    auth = models.CharField(max_length=10, choices=Auth.choices, default=Auth.BEARER)
    # The token's first characters, in clear, find the receiver; the whole token is kept encrypted
    # (portal.crypto, purpose "incidents") and compared in constant time.
    token_prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_encrypted = models.TextField(editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlertGroup(models.Model):
    """One Alertmanager group (``groupKey``): a re-sent notification with the same alerts is a no-op."""

    receiver = models.ForeignKey(AlertReceiver, on_delete=models.CASCADE, related_name="groups")
    group_key = models.CharField(max_length=1000)
    group_key_hash = models.CharField(max_length=64)
    digest = models.CharField(max_length=64, help_text="Of the last notification's alerts and their states.")
    notifications = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0, help_text="Notifications that changed nothing (re-sends).")
    last_received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["receiver", "group_key_hash"], name="incidents_alertgroup_unique_key")
        ]

    def __str__(self) -> str:
        return self.group_key[:80]


class AlertNotification(models.Model):
    """One Alertmanager notification as received. The receiver answers once it is stored; a worker
    applies it (opens, joins and resolves incidents) and records what it changed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"

    receiver = models.ForeignKey(AlertReceiver, on_delete=models.CASCADE, related_name="notifications")
    body = models.TextField(help_text="The JSON body as received.")
    alerts = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    received_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    changed = models.PositiveIntegerField(default=0, help_text="Alerts that changed something.")
    unrouted = models.PositiveIntegerField(default=0, help_text="Alerts that name no catalog entity.")
    incidents = models.JSONField(default=list, blank=True, help_text="Incidents the alerts opened, joined or resolved.")

    class Meta:
        indexes = [models.Index(fields=["status", "received_at"], name="incidents_notif_status_idx")]

    def __str__(self) -> str:
        return f"Notification {self.pk} ({self.get_status_display().lower()}, {self.alerts} alerts)"


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """One firing episode of an alert: Alertmanager's fingerprint and its ``startsAt``.

    The same fingerprint firing again after it resolved is a new row."""

    fingerprint = models.CharField(max_length=64)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=AlertStatus.choices)
    name = models.CharField(max_length=200, blank=True, help_text="The alertname label.")
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    generator_url = models.URLField(max_length=2000, blank=True)
    severity = models.CharField(max_length=10, blank=True)
    receiver = models.ForeignKey(AlertReceiver, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    entity = models.ForeignKey(Entity, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    runbook = models.ForeignKey(Page, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    received_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-starts_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["fingerprint", "starts_at"], name="incidents_alert_unique_episode")
        ]
        indexes = [
            models.Index(fields=["entity", "status"]),
            models.Index(fields=["incident", "status"]),
            models.Index(fields=["status", "received_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.fingerprint} ({self.status})"

    @property
    def summary(self) -> str:
        return str(self.annotations.get("summary") or self.annotations.get("description") or "")


class Response(models.Model):
    """How people respond to an incident: acknowledgement, assignment, and whether it waits for a
    person to confirm that it is over."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, primary_key=True, related_name="response")
    from_alert = models.BooleanField(default=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    awaiting_confirmation = models.BooleanField(
        default=False, help_text="All alerts resolved; the service's team confirms the incident is over."
    )
    notified_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"response to incident {self.incident_id}"


class TimelineEntry(models.Model):
    """Something that happened during an incident, in the order it happened."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        ALERT_FIRED = "alert_fired", "Alert fired"
        ALERT_RESOLVED = "alert_resolved", "Alert resolved"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ASSIGNED = "assigned", "Assigned"
        NOTIFIED = "notified", "Team notified"
        NOTE = "note", "Note"
        RESOLVED = "resolved", "Resolved"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.CharField(max_length=1000, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["incident", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.kind}"
