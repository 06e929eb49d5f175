import secrets

from django.conf import settings
from django.db import models


class PersonalToken(models.Model):
    """An API token a user created for scripts. Only its hash is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True, help_text="Shown to tell tokens apart; not secret.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=list, help_text='"read" (GET, HEAD, OPTIONS) and "write" (everything else).')
    expires_at = models.DateTimeField(null=True, blank=True)
    expiry_warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        from django.utils import timezone

        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def can_write(self) -> bool:
        return "write" in (self.scopes or [])

    @staticmethod
    def generate_key() -> str:
        return "brg_" + secrets.token_urlsafe(32)


class AuditEvent(models.Model):
    """One state change: who did what to which object, and when. Append-only."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action} {self.object_repr}"


class WorkerPing(models.Model):
    """A round trip through the broker to a worker, to prove the worker runs."""

    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        state = f"answered by {self.answered_by}" if self.answered_at else "waiting"
        return f"ping {self.pk} ({state})"


class NotificationEvent(models.TextChoices):
    APPROVAL_NEEDED = "approval_needed", "An approval is needed from me"
    APPROVAL_DECIDED = "approval_decided", "My request was approved or rejected"
    ENVIRONMENT_READY = "environment_ready", "My environment is ready"
    ENVIRONMENT_FAILED = "environment_failed", "My environment failed"
    ENVIRONMENT_EXPIRING = "environment_expiring", "My environment expires soon"
    ENVIRONMENT_DESTROYED = "environment_destroyed", "My environment was destroyed"
    PIPELINE_FAILED = "pipeline_failed", "A default-branch pipeline of my team failed"
    SCORECARD_DROPPED = "scorecard_dropped", "A scorecard level of my team dropped"
    INCIDENT_STARTED = "incident_started", "An incident started on my team's entity"
    TOKEN_EXPIRING = "token_expiring", "One of my API tokens expires soon"


class Channel(models.TextChoices):
    IN_APP = "in_app", "In the portal"
    EMAIL = "email", "Email"
    CHAT = "chat", "Team chat"


class Notification(models.Model):
    """Something that concerns one user, shown in their notification centre."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=40, choices=NotificationEvent.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.title}"


class NotificationPreference(models.Model):
    """A user's choice to receive (or not) one event on one channel; no row means yes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_prefs")
    event = models.CharField(max_length=40, choices=NotificationEvent.choices)
    channel = models.CharField(max_length=10, choices=[c for c in Channel.choices if c[0] != "chat"])
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "event", "channel"], name="portal_notification_pref_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.event} {self.channel}: {'on' if self.enabled else 'off'}"


class TeamChatWebhook(models.Model):
    """A Slack-compatible incoming webhook for a team (a catalog Group, by reference)."""

    team_ref = models.CharField(max_length=200, unique=True, help_text="group:namespace/name")
    url = models.URLField(max_length=500)
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.team_ref

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from portal.chat import webhook_url_refusal

        refusal = webhook_url_refusal(self.url) if self.url else None
        if refusal:
            raise ValidationError({"url": refusal})


class Delivery(models.Model):
    """One attempt-tracked delivery of a notification by email or to a team's chat."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    notification = models.ForeignKey(Notification, null=True, blank=True, on_delete=models.CASCADE)
    webhook = models.ForeignKey(TeamChatWebhook, null=True, blank=True, on_delete=models.CASCADE)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.channel} delivery {self.pk} ({self.status})"


class GitHostType(models.TextChoices):
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"
    GIT = "git", "Git over HTTP(S)"


class GitIntegration(models.Model):
    """A Git host configured in the admin (``GIT_INTEGRATIONS`` configures others from the environment).

    Bridge reads only from hosts that have an integration (see ``portal.githosts``). The token
    is kept encrypted (``portal.crypto``) and never shown again; ``token_hint`` tells tokens apart.
    """

    type = models.CharField(max_length=10, choices=GitHostType.choices)
    host = models.CharField(
        max_length=255, unique=True, help_text="host or host:port, as in the repositories' URLs (github.com)"
    )
    api_base_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="Empty: https://api.github.com for github.com, https://HOST/api/v3 for GitHub Enterprise, "
        "https://HOST/api/v4 for GitLab.",
    )
    token_encrypted = models.TextField(blank=True, editable=False)
    token_hint = models.CharField(max_length=12, blank=True, editable=False)
    allow_private_addresses = models.CharField(
        max_length=500,
        blank=True,
        help_text="Empty: only public addresses. 'true': also loopback and private networks. "
        "Or addresses/networks, comma-separated (10.0.0.0/8, 169.254.169.254).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["host"]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.host}"
