from django.db import migrations, models


def fill_order(apps, schema_editor):
    """Best effort for versions published before: the descriptor's key order where the database kept it."""
    TemplateVersion = apps.get_model("provisioning", "TemplateVersion")
    for version in TemplateVersion.objects.all().only("pk", "descriptor", "parameters_schema"):
        properties = (version.descriptor.get("parameters") or {}).get("properties") or version.parameters_schema.get(
            "properties", {}
        )
        TemplateVersion.objects.filter(pk=version.pk).update(parameter_order=list(properties))


class Migration(migrations.Migration):
    dependencies = [("provisioning", "0003_expiry_warning_once")]

    operations = [
        migrations.AddField(
            model_name="templateversion",
            name="parameter_order",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Parameter names in the descriptor's order (a JSON column may reorder keys).",
            ),
        ),
        migrations.RunPython(fill_order, migrations.RunPython.noop),
    ]
