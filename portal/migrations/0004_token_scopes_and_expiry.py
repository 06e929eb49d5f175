from datetime import timedelta

from django.db import migrations, models
from django.utils import timezone


def existing_tokens_keep_their_power_for_one_lifetime(apps, schema_editor):
    """Tokens made before scopes could write: they keep both scopes, and expire after the default lifetime."""
    from django.conf import settings

    PersonalToken = apps.get_model("portal", "PersonalToken")
    expires = timezone.now() + timedelta(days=getattr(settings, "API_TOKEN_DEFAULT_DAYS", 90))
    PersonalToken.objects.filter(expires_at__isnull=True, revoked_at__isnull=True).update(expires_at=expires)
    PersonalToken.objects.update(scopes=["read", "write"])


class Migration(migrations.Migration):
    dependencies = [("portal", "0003_notifications")]

    operations = [
        migrations.AddField(
            model_name="personaltoken",
            name="last_used_ip",
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="personaltoken",
            name="scopes",
            field=models.JSONField(
                default=list, help_text='"read" (GET, HEAD, OPTIONS) and "write" (everything else).'
            ),
        ),
        migrations.AddField(
            model_name="personaltoken",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="personaltoken",
            name="expiry_warned_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="notification",
            name="event",
            field=models.CharField(
                choices=[
                    ("approval_needed", "An approval is needed from me"),
                    ("approval_decided", "My request was approved or rejected"),
                    ("environment_ready", "My environment is ready"),
                    ("environment_failed", "My environment failed"),
                    ("environment_expiring", "My environment expires soon"),
                    ("environment_destroyed", "My environment was destroyed"),
                    ("pipeline_failed", "A default-branch pipeline of my team failed"),
                    ("scorecard_dropped", "A scorecard level of my team dropped"),
                    ("incident_started", "An incident started on my team's entity"),
                    ("token_expiring", "One of my API tokens expires soon"),
                ],
                max_length=40,
            ),
        ),
        migrations.AlterField(
            model_name="notificationpreference",
            name="event",
            field=models.CharField(
                choices=[
                    ("approval_needed", "An approval is needed from me"),
                    ("approval_decided", "My request was approved or rejected"),
                    ("environment_ready", "My environment is ready"),
                    ("environment_failed", "My environment failed"),
                    ("environment_expiring", "My environment expires soon"),
                    ("environment_destroyed", "My environment was destroyed"),
                    ("pipeline_failed", "A default-branch pipeline of my team failed"),
                    ("scorecard_dropped", "A scorecard level of my team dropped"),
                    ("incident_started", "An incident started on my team's entity"),
                    ("token_expiring", "One of my API tokens expires soon"),
                ],
                max_length=40,
            ),
        ),
        migrations.RunPython(existing_tokens_keep_their_power_for_one_lifetime, migrations.RunPython.noop),
    ]
