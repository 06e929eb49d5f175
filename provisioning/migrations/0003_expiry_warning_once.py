"""One expiry warning, due at 10 % of the lifetime before the end (at most 24 h), instead of two fixed ones."""

from datetime import timedelta

from django.db import migrations, models


def due_times(apps, schema_editor):
    EnvironmentRequest = apps.get_model("provisioning", "EnvironmentRequest")
    for request in EnvironmentRequest.objects.filter(expires_at__isnull=False, activated_at__isnull=False).iterator():
        lead = min((request.expires_at - request.activated_at) * 0.1, timedelta(hours=24))
        request.expiry_warn_at = request.expires_at - lead
        request.save(update_fields=["expiry_warn_at"])


class Migration(migrations.Migration):
    dependencies = [("provisioning", "0002_environments_lifecycle")]

    operations = [
        migrations.RenameField("environmentrequest", "warned_24h_at", "expiry_warned_at"),
        migrations.RemoveField("environmentrequest", "warned_1h_at"),
        migrations.AddField(
            model_name="environmentrequest",
            name="expiry_warn_at",
            field=models.DateTimeField(
                blank=True,
                help_text="The expiry warning is due: 10 % of the lifetime before the end, at most 24 h.",
                null=True,
            ),
        ),
        migrations.AddIndex(
            model_name="environmentrequest",
            index=models.Index(fields=["state", "expiry_warn_at"], name="prov_request_warn_idx"),
        ),
        migrations.RunPython(due_times, migrations.RunPython.noop),
    ]
