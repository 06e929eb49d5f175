"""The catalog's REST API: the same filters, services and permissions as the pages."""

from functools import partial

import orjson
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView, get_object_or_404
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import permissions as rules
from catalog import selectors, services
from catalog.api.serializers import (
    ConflictSerializer,
    DescriptorSerializer,
    EntitySerializer,
    ImportSerializer,
    LocationCreateSerializer,
    LocationOutcomeSerializer,
    LocationSerializer,
    MoveSerializer,
    RelationSerializer,
)
from catalog.filters import EntityFilterSet
from catalog.models import CatalogLocation, Entity, EntityConflict
from portal.api.pagination import PageNumberPagination


class EntityPermission(permissions.BasePermission):
    """Everyone signed in reads; the owning team's members and Platform Admins write."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return rules.can_view_entity(request.user, obj)
        if request.method == "DELETE":
            return rules.can_delete_entity(request.user, obj)
        return rules.can_edit_entity(request.user, obj)


class CatalogPagination(PageNumberPagination):
    """Takes the total from the view's cached count (see ``catalog.selectors.cached_counts``)."""

    def paginate_queryset(self, queryset, request, view=None):
        self.known_count = getattr(view, "known_count", None)
        return super().paginate_queryset(queryset, request, view)

    @property
    def django_paginator_class(self):
        return partial(selectors.CountedPaginator, known_count=self.known_count)


class EntityViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = EntitySerializer
    permission_classes = [EntityPermission]
    filter_backends = [DjangoFilterBackend]
    filterset_class = EntityFilterSet
    queryset = Entity.objects.all()
    pagination_class = CatalogPagination

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        self.known_count = selectors.cached_counts(
            ("api",) + selectors.filter_key(request.query_params), queryset.count
        )
        if selectors.renders_entity_json():
            page = self.paginate_queryset(queryset.values_list("pk", flat=True))
            return self.get_paginated_response([orjson.Fragment(text) for text in selectors.entity_json_by_ids(page)])
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=DescriptorSerializer, responses={201: EntitySerializer})
    def create(self, request, *args, **kwargs):
        descriptor = DescriptorSerializer(data=request.data)
        descriptor.is_valid(raise_exception=True)
        entity = services.entity_save(actor=request.user, document=dict(descriptor.validated_data))
        return Response(EntitySerializer(entity).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DescriptorSerializer, responses={200: EntitySerializer})
    def update(self, request, *args, **kwargs):
        entity = self.get_object()
        descriptor = DescriptorSerializer(data=request.data)
        descriptor.is_valid(raise_exception=True)
        saved = services.entity_save(actor=request.user, document=dict(descriptor.validated_data), entity=entity)
        return Response(EntitySerializer(saved).data)

    def perform_destroy(self, instance):
        services.entity_delete(actor=self.request.user, entity=instance)

    @extend_schema(responses=EntitySerializer)
    def by_ref(self, request, kind: str, namespace: str, name: str):
        if selectors.renders_entity_json():
            entity = selectors.entity_json_by_ref(kind, namespace, name)
            if entity is None:
                raise Http404
            self.check_object_permissions(request, entity)
            return Response(orjson.Fragment(entity.api_json))
        entity = selectors.entity_by_parts(kind, namespace, name)
        if entity is None:
            raise Http404
        self.check_object_permissions(request, entity)
        return Response(EntitySerializer(entity).data)

    @extend_schema(request=MoveSerializer, responses={200: EntitySerializer})
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None, format=None):
        """Platform Admins: give the entity to another source (audited); a refused copy of it is written at once."""
        entity = get_object_or_404(Entity, pk=pk)
        body = MoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        moved = services.entity_move(actor=request.user, entity=entity, source=body.validated_data["source"])
        return Response(EntitySerializer(moved).data)

    @extend_schema(responses=ConflictSerializer(many=True))
    @action(detail=True, methods=["get"])
    def conflicts(self, request, pk=None, format=None):
        """Other sources that list this entity; their copies were refused."""
        entity = self.get_object()
        rows = entity.conflicts.select_related("entity").order_by("source")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(ConflictSerializer(page, many=True).data)

    @extend_schema(responses=RelationSerializer(many=True))
    @action(detail=True, methods=["get"])
    def relations(self, request, pk=None, format=None):
        entity = self.get_object()
        rows = entity.relations.select_related("target").order_by("type", "target_ref")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(RelationSerializer(page, many=True).data)


FACET_PARAMS = {
    "kind": "kind",
    "type": "type",
    "spec.type": "type",
    "lifecycle": "lifecycle",
    "spec.lifecycle": "lifecycle",
    "owner": "owner",
    "spec.owner": "owner",
}


class EntityFacetsView(APIView):
    """Counts per value of the asked facets (``?facet=kind&facet=type``) over the filtered catalog.

    Takes the list's filters; Backstage's names (``spec.type``, ``spec.lifecycle``, ``spec.owner``) work too.
    """

    @extend_schema(
        responses=inline_serializer("EntityFacets", {"facets": serializers.DictField()}),
        parameters=[OpenApiParameter("facet", str, many=True, description="kind, type, lifecycle or owner")],
    )
    def get(self, request):
        asked = request.query_params.getlist("facet") or ["kind", "type", "lifecycle", "owner"]
        unknown = [f for f in asked if f not in FACET_PARAMS]
        if unknown:
            raise ValidationError(
                {"facet": [f"Unknown facet {unknown[0]!r}: use one of kind, type, lifecycle, owner."]}
            )
        filterset = EntityFilterSet(request.query_params, queryset=Entity.objects.all())
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        queryset = filterset.qs
        counts = selectors.cached_counts(
            ("api-facets",) + selectors.filter_key(request.query_params), lambda: selectors.facet_counts(queryset)
        )
        return Response({"facets": {f: [{"value": v, "count": c} for v, c in counts[FACET_PARAMS[f]]] for f in asked}})


class ExportView(APIView):
    """The filtered catalog (same filters as the list) as multi-document Backstage YAML."""

    @extend_schema(responses={(200, "application/yaml"): OpenApiResponse(description="Multi-document Backstage YAML.")})
    def get(self, request):
        filterset = EntityFilterSet(request.query_params, queryset=Entity.objects.all())
        response = StreamingHttpResponse(selectors.export_yaml(filterset.qs), content_type="application/yaml")
        response["Content-Disposition"] = 'attachment; filename="catalog-info.yaml"'
        return response


class ImportView(APIView):
    """Import YAML (``yaml`` text, an uploaded ``file``) or, for Platform Admins, a server ``path``."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(request=ImportSerializer, responses={200: dict})
    def post(self, request):
        try:
            body = request.data
        except RequestDataTooBig:
            raise services.ServiceError(
                "The request body is too large for JSON; send the YAML as a multipart file upload (field 'file')."
            )
        data = ImportSerializer(data=body)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if not rules.can_import(request.user):
            raise services.PermissionDenied("You are in no team yet, so you cannot import.")
        if values.get("path"):
            result = services.catalog_import_paths(paths=[values["path"]], actor=request.user)
        elif values.get("file"):
            upload = values["file"]
            if upload.size > services.upload_limit():
                raise services.ServiceError(f"The file is larger than the limit of {services.upload_limit()} bytes.")
            result = services.catalog_import_text(
                text=upload.read(), name=values.get("name") or upload.name, actor=request.user, team=values.get("team")
            )
        else:
            result = services.catalog_import_text(
                text=values["yaml"], name=values.get("name") or "api", actor=request.user, team=values.get("team")
            )
        return Response(result.as_dict())


class LocationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Catalog locations in Git repositories: list, register, read again, remove."""

    serializer_class = LocationSerializer
    queryset = CatalogLocation.objects.order_by("pk")
    pagination_class = PageNumberPagination

    @extend_schema(
        request=LocationCreateSerializer,
        responses={
            201: inline_serializer(
                "LocationCreated", {"location": LocationSerializer(), "refresh": LocationOutcomeSerializer()}
            )
        },
        description="Register a location and read it at once. Platform Admins only.",
    )
    def create(self, request, *args, **kwargs):
        data = LocationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        location, outcome = services.location_add(
            actor=request.user,
            url=values.get("url", ""),
            repository=values.get("repository", ""),
            ref=values.get("ref", ""),
            path=values.get("path", ""),
        )
        location.refresh_from_db()
        return Response(
            {"location": LocationSerializer(location).data, "refresh": outcome.as_dict()},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(responses={204: None}, description="Unregister a location; its entities are orphaned.")
    def destroy(self, request, *args, **kwargs):
        location = self.get_object()
        services.location_remove(actor=request.user, location=location)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: LocationOutcomeSerializer})
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None, format=None):
        """Read the location again now (team members and Platform Admins)."""
        location = self.get_object()
        if not rules.can_refresh_location(request.user):
            raise services.PermissionDenied("You are in no team yet, so you cannot refresh locations.")
        return Response(services.location_refresh(location=location).as_dict())


class ConflictListView(ListAPIView):
    """Every conflict: copies of entities that a source listed although another source owns them.

    Filter with ``?source=`` (the refused source's key) or ``?owner=`` (the owning source's key).
    """

    serializer_class = ConflictSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self):
        rows = EntityConflict.objects.select_related("entity").order_by("entity__ref_key", "source")
        if source := self.request.query_params.get("source"):
            rows = rows.filter(source=source)
        if owner := self.request.query_params.get("owner"):
            rows = rows.filter(entity__source=owner)
        return rows
