from datetime import UTC, datetime

import django_filters
from django import forms

from portal.models import AuditEvent


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time, normalised to UTC so every database accepts it.

    PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 allows; in UTC
    the same instant is fine. An instant before year 1 or after 9999 in UTC is
    clamped to the first or last one a database can store.
    """

    def to_python(self, value):
        try:
            parsed = super().to_python(value)
        except (OverflowError, ValueError):
            raise forms.ValidationError("Enter a valid date/time.", code="invalid")
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            edge = datetime.min if parsed.year == 1 else datetime.max
            return edge.replace(tzinfo=UTC)


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class AuditEventFilter(django_filters.FilterSet):
    """One definition for the audit page and the audit API."""

    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="iexact", label="Actor")
    action = django_filters.CharFilter(field_name="action", lookup_expr="istartswith", label="Action starts with")
    object_type = django_filters.CharFilter(field_name="object_type", lookup_expr="iexact", label="Object type")
    object_id = django_filters.CharFilter(field_name="object_id", label="Object id")
    since = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte", label="Since")
    until = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt", label="Until")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "object_type", "object_id", "since", "until"]
