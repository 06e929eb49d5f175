from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Kind
from pipelines import permissions, selectors, services
from pipelines.api.serializers import (
    ConnectRepositorySerializer,
    DeploymentSerializer,
    HistoryRepositorySerializer,
    IncidentSerializer,
    MetricsSerializer,
    RunDetailSerializer,
    RunSerializer,
)
from pipelines.models import Deployment, Incident, Repository, Run
from portal.filters import UtcDateTimeField, UtcDateTimeFilter
from portal.services import PermissionDenied, ServiceError


def _scope_repositories(entity_ref: str = "", team_ref: str = ""):
    """Repositories of an entity or of a team; a ref that names nothing is a clear 400."""
    if team_ref:
        team = services.entity_by_ref(team_ref if ":" in team_ref else f"group:{team_ref}")
        if team is None or team.kind != Kind.GROUP:
            raise exceptions.ValidationError({"team": f"No catalog Group “{team_ref}”."})
        return selectors.repositories_for_entities(selectors.team_entities(team)), team.ref
    entity = services.entity_by_ref(entity_ref)
    if entity is None:
        raise exceptions.ValidationError({"entity": f"No catalog entity “{entity_ref}” (use kind:namespace/name)."})
    return selectors.repositories_for_entities([entity]), entity.ref


class _ScopeFilter(filters.FilterSet):
    entity = filters.CharFilter(method="filter_entity", help_text="kind:namespace/name")
    team = filters.CharFilter(method="filter_team", help_text="group:namespace/name")
    since = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    repo_field = "pipeline__repository"

    def filter_entity(self, queryset, name, value):
        repos, _ = _scope_repositories(entity_ref=value)
        return queryset.filter(**{f"{self.repo_field}__in": repos})

    def filter_team(self, queryset, name, value):
        repos, _ = _scope_repositories(team_ref=value)
        return queryset.filter(**{f"{self.repo_field}__in": repos})


class RunFilter(_ScopeFilter):
    repository = filters.CharFilter(field_name="pipeline__repository__slug", lookup_expr="iexact")
    pipeline = filters.CharFilter(field_name="pipeline__name", lookup_expr="iexact")

    class Meta:
        model = Run
        fields = ["status", "branch", "commit_sha"]


class DeploymentFilter(_ScopeFilter):
    repo_field = "repository"
    repository = filters.CharFilter(field_name="repository__slug", lookup_expr="iexact")
    environment = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Deployment
        fields = ["status", "is_production", "commit_sha"]


class RunViewSet(viewsets.ReadOnlyModelViewSet):
    """Pipeline runs, newest first."""

    filterset_class = RunFilter

    def get_queryset(self):
        queryset = Run.objects.select_related("pipeline__repository__entity").order_by("-created_at", "-pk")
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("jobs")
        return queryset

    def get_serializer_class(self):
        return RunDetailSerializer if self.action == "retrieve" else RunSerializer


class DeploymentViewSet(viewsets.ReadOnlyModelViewSet):
    """Deployments, newest first."""

    serializer_class = DeploymentSerializer
    filterset_class = DeploymentFilter
    queryset = Deployment.objects.select_related("repository").order_by("-created_at", "-pk")


class IncidentViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Incidents count in change fail rate and recovery time. Creating one needs the Platform Admins role."""

    serializer_class = IncidentSerializer
    queryset = Incident.objects.select_related("entity").order_by("-started_at", "-pk")
    filterset_fields = ["source"]

    def create(self, request, *args, **kwargs):
        if not permissions.can_record_incidents(request.user):
            raise PermissionDenied("Only Platform Admins record incidents through the API.")
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = services.incident_record(
                source="api",
                external_id=data["external_id"],
                title=data["title"],
                started_at=data["started_at"],
                resolved_at=data.get("resolved_at"),
                entity_ref=data.get("entity", ""),
                repository_slug=data.get("repository", ""),
                deployment_id=data.get("deployment_id", ""),
                url=data.get("url", ""),
                actor=self.request.user,
            )
        except ServiceError as exc:
            raise exceptions.ValidationError({"detail": str(exc)}) from None


class MetricsView(APIView):
    """DORA metrics and run statistics of one entity or one team over a window of days."""

    @extend_schema(
        parameters=[
            OpenApiParameter("entity", str, description="kind:namespace/name"),
            OpenApiParameter("team", str, description="group:namespace/name (or the team's name)"),
            OpenApiParameter("days", int, description="Window length, 1 to 365 (default 30)"),
            OpenApiParameter("until", str, description="End of the window, ISO 8601 (default now)"),
        ],
        responses=MetricsSerializer,
    )
    def get(self, request):
        entity_ref = request.query_params.get("entity", "").strip()
        team_ref = request.query_params.get("team", "").strip()
        if bool(entity_ref) == bool(team_ref):
            raise exceptions.ValidationError({"detail": "Give exactly one of `entity` or `team`."})
        try:
            days = int(request.query_params.get("days", "30"))
        except ValueError:
            raise exceptions.ValidationError({"days": "A whole number of days."}) from None
        if not 1 <= days <= 365:
            raise exceptions.ValidationError({"days": "Between 1 and 365."})
        until = None
        if request.query_params.get("until"):
            try:
                until = UtcDateTimeField().to_python(request.query_params["until"])
            except DjangoValidationError:
                until = None
            if until is None or until.tzinfo is None:
                raise exceptions.ValidationError({"until": "An ISO 8601 date and time with a time zone."})
        repos, scope = _scope_repositories(entity_ref=entity_ref, team_ref=team_ref)
        metrics = selectors.dora_metrics(repos, days=days, now=until)
        stats = selectors.run_stats(repos, days=days, now=until)
        body = {
            "scope": scope,
            "days": days,
            "dora": [
                {
                    "key": m.key,
                    "label": m.label,
                    "value": m.value,
                    "band": m.band,
                    "previous": m.previous,
                    "trend": m.trend,
                    "count": m.count,
                    "part": m.part,
                }
                for m in metrics
            ],
            "runs": {
                "days": stats.days,
                "finished": stats.finished,
                "succeeded": stats.succeeded,
                "success_rate": stats.success_rate,
                "median_duration": stats.median_duration,
            },
        }
        return Response(MetricsSerializer(body).data)


class HistoryRepositoryViewSet(viewsets.ReadOnlyModelViewSet):
    """Repositories whose history Bridge reads from GitHub's or GitLab's API (Platform Admins).

    ``POST`` connects one (``url``, ``days``) and queues its backfill; ``POST …/<id>/sync/`` asks what
    changed now. The periodic reconcile keeps them current."""

    serializer_class = HistoryRepositorySerializer
    queryset = Repository.objects.filter(history_connected=True).order_by("slug")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not permissions.can_manage_integrations(request.user):
            raise PermissionDenied("Only Platform Admins manage connected repositories.")

    @extend_schema(request=ConnectRepositorySerializer, responses={201: HistoryRepositorySerializer})
    def create(self, request, *args, **kwargs):
        serializer = ConnectRepositorySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            repo = services.repository_connect(
                actor=request.user, url=serializer.validated_data["url"], days=serializer.validated_data.get("days")
            )
        except ServiceError as exc:
            raise exceptions.ValidationError({"url": str(exc)}) from None
        return Response(HistoryRepositorySerializer(repo).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: HistoryRepositorySerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None, **kwargs):
        try:
            repo = services.repository_history_request(actor=request.user, repository_id=self.get_object().pk)
        except ServiceError as exc:
            raise exceptions.ValidationError({"detail": str(exc)}) from None
        return Response(HistoryRepositorySerializer(repo).data, status=status.HTTP_202_ACCEPTED)
