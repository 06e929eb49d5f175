"""One filter definition for the catalog list, shared by the HTML page and the API."""

from __future__ import annotations

import django_filters
from django import forms

from catalog.descriptors import parse_ref
from catalog.models import Entity, Kind

ORDERING = (
    ("name", "name"),
    ("kind", "kind"),
    ("spec_type", "type"),
    ("lifecycle", "lifecycle"),
    ("owner_ref", "owner"),
    ("updated_at", "updated"),
)


def _ref_value(value: str, default_kind: str) -> str:
    try:
        return parse_ref(value, default_kind=default_kind, default_namespace="default")
    except ValueError:
        return value.strip().lower()


_KIND_BY_LOWER = {value.lower(): value for value in Kind.values}


class KindField(django_filters.fields.MultipleChoiceField):
    """Kinds in any case, as Backstage accepts them (``kind=component``)."""

    def to_python(self, value):
        return [_KIND_BY_LOWER.get(str(v).lower(), v) for v in super().to_python(value)]


class KindFilter(django_filters.MultipleChoiceFilter):
    field_class = KindField


class EntityFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_text", label="Text")
    kind = KindFilter(choices=Kind.choices, widget=forms.CheckboxSelectMultiple, label="Kind", distinct=False)
    type = django_filters.CharFilter(field_name="spec_type", lookup_expr="iexact", label="Type")
    lifecycle = django_filters.CharFilter(field_name="lifecycle", lookup_expr="iexact", label="Lifecycle")
    owner = django_filters.CharFilter(method="filter_owner", label="Owner")
    system = django_filters.CharFilter(method="filter_system", label="System")
    tag = django_filters.CharFilter(method="filter_tag", label="Tag")
    orphaned = django_filters.BooleanFilter(field_name="orphaned", label="Orphaned")
    ordering = django_filters.OrderingFilter(fields=ORDERING, label="Sort by")

    class Meta:
        model = Entity
        fields = ["q", "kind", "type", "lifecycle", "owner", "system", "tag", "orphaned"]

    def filter_text(self, queryset, name, value):
        # search_text is lower case; on PostgreSQL a trigram index serves this LIKE '%...%'.
        value = value.strip().lower()
        return queryset.filter(search_text__contains=value) if value else queryset

    def filter_owner(self, queryset, name, value):
        return queryset.filter(owner_ref=_ref_value(value, "group")) if value.strip() else queryset

    def filter_system(self, queryset, name, value):
        return queryset.filter(system_ref=_ref_value(value, "system")) if value.strip() else queryset

    def filter_tag(self, queryset, name, value):
        value = value.strip().lower()
        return queryset.filter(tag_text__contains=f",{value},") if value else queryset

    @property
    def qs(self):
        qs = super().qs
        if not getattr(self.form, "cleaned_data", {}).get("ordering"):
            return qs.order_by("name", "kind", "pk")
        # The id last: rows that tie (one lifecycle, one owner) keep one order from page to page, so
        # that none shows on two pages or on none.
        return qs.order_by(*qs.query.order_by, "pk")
