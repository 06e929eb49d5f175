from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError

from portal.models import AuditEvent


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time, normalised to UTC so every database accepts it.

    PostgreSQL refuses offsets beyond ±15:59 (which ISO 8601 allows), and a
    value near year 1 may not survive the conversion at all: both are the
    user's input errors, not the server's.
    """

    def to_python(self, value):
        try:
            parsed = super().to_python(value)
        except (OverflowError, ValueError):
            raise forms.ValidationError("Enter a valid date/time.", code="invalid")
        if parsed is None or parsed.tzinfo is None:
            return parsed
        offset = parsed.utcoffset()
        if offset is not None and abs(offset.total_seconds()) > 14 * 3600:
            raise ValidationError("Time zone offsets range from -14:00 to +14:00.", code="invalid")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError("Enter a date-time between the years 1 and 9999.", code="invalid")


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
