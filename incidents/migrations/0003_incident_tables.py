"""The incident tables take this app's names: ``knowledge_incident`` becomes ``incidents_incident`` and
``knowledge_incidentstep`` becomes ``incidents_incidentstep`` (a rename: rows, ids and the foreign keys
that point at them stay). Their content types follow, so admin permissions granted on incidents and
anything that names the content type keep working."""

from django.db import migrations


def content_types_follow(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in ("incident", "incidentstep"):
        if not ContentType.objects.using(db).filter(app_label="incidents", model=model).exists():
            ContentType.objects.using(db).filter(app_label="knowledge", model=model).update(app_label="incidents")


def content_types_go_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in ("incident", "incidentstep"):
        if not ContentType.objects.using(db).filter(app_label="knowledge", model=model).exists():
            ContentType.objects.using(db).filter(app_label="incidents", model=model).update(app_label="knowledge")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("incidents", "0002_incident_moved_from_knowledge"),
        ("knowledge", "0009_incidents_moved_out"),
    ]

    operations = [
        migrations.AlterModelTable(name="incident", table=None),
        migrations.AlterModelTable(name="incidentstep", table=None),
        migrations.RunPython(content_types_follow, content_types_go_back),
    ]
