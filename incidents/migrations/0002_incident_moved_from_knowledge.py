"""Incidents and their runbook steps move from the knowledge app to this one, without their data moving.

This migration only tells Django that ``Incident`` and ``IncidentStep`` are now this app's models, still
on their old tables (``knowledge_incident``, ``knowledge_incidentstep``), and that the alerts, responses
and timeline entries point at them here. Nothing in the database changes. ``knowledge`` 0009 then drops
the models from its state, and 0003 here renames the tables to ``incidents_incident`` and
``incidents_incidentstep`` (AlterModelTable: the rows, their ids and every foreign key pointing at
them stay; index and constraint names that say "knowledge" are kept).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0010_template_kind"),
        ("incidents", "0001_alerts_receivers_and_response"),
        ("knowledge", "0008_postmortem_incident_by_value"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Incident",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "severity",
                            models.CharField(
                                choices=[
                                    ("sev1", "SEV1 (critical)"),
                                    ("sev2", "SEV2 (major)"),
                                    ("sev3", "SEV3 (minor)"),
                                    ("sev4", "SEV4 (low)"),
                                ],
                                default="sev3",
                                max_length=10,
                            ),
                        ),
                        ("summary", models.CharField(blank=True, max_length=300)),
                        ("started_at", models.DateTimeField(db_index=True)),
                        ("closed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "outcome",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("resolved", "Resolved"),
                                    ("mitigated", "Mitigated"),
                                    ("false_alarm", "False alarm"),
                                    ("escalated", "Escalated"),
                                ],
                                max_length=20,
                            ),
                        ),
                        ("outcome_notes", models.TextField(blank=True)),
                        (
                            "closed_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "entity",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="incidents",
                                to="catalog.entity",
                            ),
                        ),
                        (
                            "revision",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="knowledge.revision",
                            ),
                        ),
                        (
                            "runbook",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="incidents",
                                to="knowledge.page",
                            ),
                        ),
                        (
                            "started_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-started_at"],
                        "db_table": "knowledge_incident",
                        "indexes": [
                            models.Index(fields=["entity", "started_at"], name="knowledge_i_entity__b6d885_idx")
                        ],
                    },
                ),
                migrations.AlterField(
                    model_name="alert",
                    name="incident",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="alerts",
                        to="incidents.incident",
                    ),
                ),
                migrations.AlterField(
                    model_name="response",
                    name="incident",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="response",
                        serialize=False,
                        to="incidents.incident",
                    ),
                ),
                migrations.AlterField(
                    model_name="timelineentry",
                    name="incident",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="timeline", to="incidents.incident"
                    ),
                ),
                migrations.CreateModel(
                    name="IncidentStep",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("number", models.PositiveIntegerField()),
                        ("text", models.CharField(max_length=1000)),
                        ("done", models.BooleanField(default=False)),
                        ("done_at", models.DateTimeField(blank=True, null=True)),
                        ("note", models.TextField(blank=True)),
                        (
                            "done_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "incident",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="steps",
                                to="incidents.incident",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["number"],
                        "db_table": "knowledge_incidentstep",
                        "constraints": [
                            models.UniqueConstraint(fields=("incident", "number"), name="knowledge_step_unique_number")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
