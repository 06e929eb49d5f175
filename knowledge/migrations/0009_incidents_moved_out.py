"""Incidents and their steps are the ``incidents`` app's now (its migration 0002 took them over,
0003 renames their tables): forget them here, without touching the database."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0008_postmortem_incident_by_value"),
        ("incidents", "0002_incident_moved_from_knowledge"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="IncidentStep"),
                migrations.DeleteModel(name="Incident"),
            ],
            database_operations=[],
        ),
    ]
