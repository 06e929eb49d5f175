"""A postmortem names its incident by number instead of by foreign key.

Incidents move to the ``incidents`` app, which imports this one; a foreign key from ``Page`` to
``incidents.Incident`` would make knowledge depend on incidents. The column ``incident_id`` and its
values stay as they were: only the foreign-key constraint goes (the index stays). The incidents app
checks the number when a postmortem is linked (``portal.extensions.postmortem_link_check``).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0007_incident_without_runbook"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterField(
                    model_name="page",
                    name="incident",
                    field=models.BigIntegerField(blank=True, null=True, db_index=True, db_column="incident_id"),
                ),
            ],
            state_operations=[
                migrations.RemoveField(model_name="page", name="incident"),
                migrations.AddField(
                    model_name="page",
                    name="incident_id",
                    field=models.BigIntegerField(
                        blank=True,
                        db_index=True,
                        help_text="Postmortems: the number of the incident it is about.",
                        null=True,
                    ),
                ),
            ],
        ),
    ]
