from django.conf import settings
from django.db import models


class OidcIdentity(models.Model):
    """The link from a portal account to one person at the identity provider (issuer + subject).

    ``groups`` are the provider's groups at the last sign-in; the catalog Groups they matched are
    ``IdpTeam`` rows.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity")
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OpenID Connect identity"
        verbose_name_plural = "OpenID Connect identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="accounts_oidc_identity_unique")]

    def __str__(self) -> str:
        return f"{self.user} ({self.subject} at {self.issuer})"


class IdpTeam(models.Model):
    """A team (catalog Group, by ref) that the person's groups at the identity provider gave at their
    last sign-in; ``catalog.selectors.teams_of`` counts it as a membership."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idp_teams")
    team_ref = models.CharField(max_length=150, help_text="group:namespace/name, lower case")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team_ref"], name="accounts_idp_team_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team_ref}"


class SignedInSession(models.Model):
    """A session someone signed in with, so that Bridge can end all of a person's sessions
    (lost role, deactivated, password changed) whatever the session store."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signed_in_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    method = models.CharField(max_length=20, default="password")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} via {self.method} at {self.created_at:%Y-%m-%d %H:%M}"
