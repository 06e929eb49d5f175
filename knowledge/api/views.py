"""The knowledge API: the same services and permission functions as the HTML views."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from knowledge import selectors, services
from knowledge.api import serializers as s
from knowledge.models import Page, PageKind, Revision, Space
from knowledge.selectors import page_rendered
from portal.api.pagination import PageNumberPagination
from portal.params import parse_int
from portal.services import ServiceError


class SpaceViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    lookup_field = "key"
    queryset = Space.objects.select_related("owner").order_by("name")

    def get_serializer_class(self):
        return s.SpaceUpdateSerializer if self.action in ("update", "partial_update") else s.SpaceSerializer

    def perform_create(self, serializer):
        d = serializer.validated_data
        serializer.instance = services.space_create(
            actor=self.request.user,
            key=d["key"],
            name=d["name"],
            owner=d.get("owner"),
            description=d.get("description", ""),
            open_for_edit=d.get("open_for_edit", False),
        )

    def perform_update(self, serializer):
        space, d = serializer.instance, serializer.validated_data
        serializer.instance = services.space_update(
            actor=self.request.user,
            space=space,
            name=d.get("name", space.name),
            description=d.get("description", space.description),
            owner=d.get("owner", space.owner),
            open_for_edit=d.get("open_for_edit", space.open_for_edit),
        )


def _conflict_response(exc: services.EditConflict) -> Response:
    return Response(
        {
            "error": {
                "status": 409,
                "code": "conflict",
                "message": str(exc),
                "details": {"current_revision": exc.current.pk, "current_number": exc.current.number, "diff": exc.diff},
            }
        },
        status=status.HTTP_409_CONFLICT,
    )


class PageViewSet(viewsets.ModelViewSet):
    """Pages. Filters: ``?space=<key>&kind=<kind>&tag=<tag>&entity=<id>``."""

    def get_queryset(self):
        qs = Page.objects.select_related("space", "current_revision").order_by("space__key", "position", "title")
        params = self.request.query_params
        if params.get("space"):
            qs = qs.filter(space__key=params["space"])
        if params.get("kind") in PageKind.values:
            qs = qs.filter(kind=params["kind"])
        if params.get("tag"):
            qs = qs.filter(tags__name=params["tag"])
        entity = parse_int(params.get("entity"))
        if entity is not None:
            qs = qs.filter(entities__pk=entity)
        if self.action == "retrieve":
            qs = qs.prefetch_related("tags", "entities")
        elif self.action == "list":
            qs = qs.defer("body", "search_vector", "current_revision__body")
        return qs

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update"):
            return s.PageWriteSerializer
        return s.PageListSerializer if self.action == "list" else s.PageSerializer

    def retrieve(self, request, *args, **kwargs):
        page = self.get_object()
        data = s.PageSerializer(page).data
        data["html"] = page_rendered(page).html
        return Response(data)

    @extend_schema(request=s.PageWriteSerializer, responses={201: s.PageSerializer})
    def create(self, request, *args, **kwargs):
        ser = s.PageWriteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        if "space" not in d:
            raise ServiceError("Say which space the page goes in (space: its key).")
        page = services.page_create(
            actor=request.user,
            space=d["space"],
            title=d["title"],
            kind=d.get("kind", PageKind.ARTICLE),
            body=d.get("body"),
            parent=d.get("parent"),
            tags=d.get("tags"),
            entity_ids=[e.pk for e in d.get("entities", [])],
            message=d.get("message", ""),
            incident=d.get("incident"),
            deployment_ref=d.get("deployment_ref", ""),
        )
        return Response(s.PageSerializer(page).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PageWriteSerializer, responses={200: s.PageSerializer})
    def update(self, request, *args, **kwargs):
        page = self.get_object()
        partial = kwargs.get("partial", False)
        ser = s.PageWriteSerializer(data=request.data, partial=partial)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        if "base_revision" not in d:
            raise ServiceError("Send base_revision: the revision id your edit started from.")
        kwargs_update = {}
        for name in ("parent", "incident"):
            if name in d:
                kwargs_update[name] = d[name]
        try:
            services.page_update(
                actor=request.user,
                page=page,
                title=d.get("title", page.title),
                body=d.get("body", page.body),
                base_revision_id=d["base_revision"],
                message=d.get("message", ""),
                tags=d.get("tags"),
                entity_ids=[e.pk for e in d["entities"]] if "entities" in d else None,
                kind=d.get("kind"),
                deployment_ref=d.get("deployment_ref"),
                **kwargs_update,
            )
        except services.EditConflict as exc:
            return _conflict_response(exc)
        page.refresh_from_db()
        return Response(s.PageSerializer(page).data)

    def destroy(self, request, *args, **kwargs):
        services.page_delete(actor=request.user, page=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=s.RevisionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def revisions(self, request, pk=None, format=None):
        page = self.get_object()
        paged = self.paginate_queryset(selectors.history(page))
        return self.get_paginated_response(s.RevisionSerializer(paged, many=True).data)

    @extend_schema(responses=s.RevisionDetailSerializer)
    @action(detail=True, methods=["get"], url_path=r"revisions/(?P<number>\d+)")
    def revision(self, request, pk=None, number=None, format=None):
        revision = get_object_or_404(Revision, page=self.get_object(), number=number)
        return Response(s.RevisionDetailSerializer(revision).data)

    @extend_schema(
        parameters=[OpenApiParameter("a", int, description="from revision number"), OpenApiParameter("b", int)],
        responses={200: dict},
    )
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None, format=None):
        page = self.get_object()
        a, b = parse_int(request.query_params.get("a")), parse_int(request.query_params.get("b"))
        if a is None or b is None:
            raise ServiceError("Give two revision numbers: ?a=1&b=2.")
        revs = {r.number: r for r in Revision.objects.filter(page=page, number__in=[a, b])}
        missing = [n for n in dict.fromkeys([a, b]) if n not in revs]
        if missing:
            raise ServiceError(f"This page has no revision {' or '.join(map(str, missing))}.")
        lines = services.unified_diff(revs[a].body, revs[b].body, old_label=f"revision {a}", new_label=f"revision {b}")
        return Response({"a": a, "b": b, "title": [revs[a].title, revs[b].title], "diff": lines})

    @extend_schema(request=s.RevertSerializer, responses=s.RevisionSerializer)
    @action(detail=True, methods=["post"])
    def revert(self, request, pk=None, format=None):
        page = self.get_object()
        ser = s.RevertSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        old = Revision.objects.filter(page=page, number=ser.validated_data["revision"]).first()
        if old is None:
            raise ServiceError("No such revision of this page.")
        new = services.page_revert(
            actor=request.user, page=page, revision_id=old.pk, message=ser.validated_data.get("message", "")
        )
        return Response(s.RevisionSerializer(new).data, status=status.HTTP_201_CREATED)


class SearchPagination(PageNumberPagination):
    """The other lists' ``page`` and ``page_size`` parameters and fields, and two more: whether
    ``count`` is exact, and how many results the pages reach (the ranked ones)."""

    max_page_size = 100  # each result costs a snippet

    def paginate_search(self, request, **search_args) -> list[selectors.SearchHit]:
        size = self.get_page_size(request)
        number = parse_int(request.query_params.get(self.page_query_param, "1"))
        if number is None or number < 1:
            raise ValidationError({"page": ["Must be a whole number from 1."]})
        self.request = request
        # Past the end: an empty page, so a client that counts pages up stops there.
        self.result_page = selectors.search_page(number=number, per_page=size, to_last_page=False, **search_args)
        return self.result_page.results.hits

    def get_next_link(self):
        if not self.result_page.has_next():
            return None
        return replace_query_param(
            self.request.build_absolute_uri(), self.page_query_param, self.result_page.next_page_number()
        )

    def get_previous_link(self):
        if not self.result_page.has_previous():
            return None
        url, number = self.request.build_absolute_uri(), self.result_page.previous_page_number()
        if number == 1:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, number)

    def get_paginated_response(self, data):
        results = self.result_page.results
        return Response(
            {
                "count": results.count,
                "count_exact": results.count_exact,
                "listed": results.listed,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )


class SearchView(APIView):
    """Pages of results, best first: ``count`` pages match (more than that when ``count_exact`` is
    false); ``next`` links on through the ``listed`` most relevant."""

    pagination_class = SearchPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str),
            OpenApiParameter("space", str),
            OpenApiParameter("kind", str),
            OpenApiParameter("tag", str),
            OpenApiParameter("entity", int),
            OpenApiParameter("page", int, description="from 1; past the last page, results are empty"),
            OpenApiParameter("page_size", int, description="1 to 100, 50 unless given"),
        ],
        responses=inline_serializer(
            "KnowledgeSearchResults",
            {
                "count": serializers.IntegerField(),
                "count_exact": serializers.BooleanField(),
                "listed": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": s.SearchHitSerializer(many=True),
            },
        ),
    )
    def get(self, request):
        p = request.query_params
        paginator = self.pagination_class()
        hits = paginator.paginate_search(
            request,
            query=p.get("q", ""),
            space=p.get("space") or None,
            kind=p.get("kind") if p.get("kind") in PageKind.values else None,
            tag=p.get("tag") or None,
            entity=parse_int(p.get("entity")),
        )
        return paginator.get_paginated_response(s.SearchHitSerializer(hits, many=True).data)
