"""The provisioning API: the same services and permission functions as the HTML views."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from catalog.models import Entity
from portal.params import parse_int
from provisioning import permissions, selectors, services
from provisioning.api.serializers import (
    ClusterStatusSerializer,
    DecisionSerializer,
    DestroySerializer,
    ExtendSerializer,
    LogPageSerializer,
    RequestCreateSerializer,
    RequestDetailSerializer,
    RequestSerializer,
    RunSerializer,
    TemplateSerializer,
)
from provisioning.models import EnvironmentRequest, EnvironmentTemplate, Run, RunStatus


class TemplateViewSet(viewsets.ReadOnlyModelViewSet):
    """Published templates with their parameters' JSON Schema."""

    serializer_class = TemplateSerializer
    lookup_field = "name"
    queryset = EnvironmentTemplate.objects.none()

    def get_queryset(self):
        return selectors.templates_published()


class RequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Environment requests you can see: your own, your teams', and all of them for approvers."""

    queryset = EnvironmentRequest.objects.none()

    def get_serializer_class(self):
        if self.action == "retrieve":
            return RequestDetailSerializer
        if self.action == "create":
            return RequestCreateSerializer
        return RequestSerializer

    def get_queryset(self):
        qs = selectors.requests_visible_to(self.request.user)
        params = self.request.query_params
        if params.get("state"):
            qs = qs.filter(state=params["state"])
        if params.get("template"):
            qs = qs.filter(template__name=params["template"])
        if params.get("mine") in ("1", "true"):
            qs = qs.filter(requester=self.request.user)
        if self.action == "retrieve":
            qs = qs.prefetch_related("runs")
        return qs

    def get_object(self):
        pk = parse_int(self.kwargs["pk"])
        obj = selectors.request_detail(pk) if pk is not None else None
        if obj is None or not permissions.can_view(self.request.user, obj):
            raise Http404
        return obj

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str),
            OpenApiParameter("template", str),
            OpenApiParameter("mine", bool),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=RequestCreateSerializer, responses={201: RequestDetailSerializer})
    def create(self, request, *args, **kwargs):
        serializer = RequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        template = selectors.templates_published().filter(name=data["template"]).first()
        if template is None:
            raise ValidationError({"template": ["No published template has this name."]})
        entity = team = None
        if data.get("entity") is not None:
            entity = Entity.objects.filter(pk=data["entity"]).first()
            if entity is None:
                raise ValidationError({"entity": ["No catalog entity has this id."]})
        if data.get("team") is not None:
            team = Entity.objects.filter(pk=data["team"], kind__iexact="group").first()
            if team is None:
                raise ValidationError({"team": ["No catalog team has this id."]})
        try:
            env_request = services.request_submit(
                user=request.user,
                template=template,
                entity=entity,
                team=team,
                name=data["name"],
                justification=data["justification"],
                ttl_hours=data.get("ttl_hours"),
                parameters=data.get("parameters") or {},
                cluster=data.get("cluster"),
            )
        except services.RequestInvalid as exc:
            raise ValidationError(exc.errors)
        return Response(RequestDetailSerializer(env_request).data, status=status.HTTP_201_CREATED)

    def _decide(self, request, service, **kwargs):
        env_request = self.get_object()
        try:
            service(user=request.user, request_id=env_request.pk, **kwargs)
        except services.RequestInvalid as exc:
            raise ValidationError(exc.errors)
        return Response(RequestDetailSerializer(selectors.request_detail(env_request.pk)).data)

    @extend_schema(request=DecisionSerializer, responses=RequestDetailSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None, format=None):
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._decide(request, services.request_approve, comment=body.validated_data["comment"])

    @extend_schema(request=DecisionSerializer, responses=RequestDetailSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None, format=None):
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._decide(request, services.request_reject, comment=body.validated_data["comment"])

    @extend_schema(request=None, responses=RequestDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None, format=None):
        return self._decide(request, services.request_cancel)

    @extend_schema(request=None, responses=RequestDetailSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None, format=None):
        return self._decide(request, services.request_retry)


class EnvironmentViewSet(RequestViewSet):
    """Environments (requests that became real): the same permissions, plus status, extend and destroy."""

    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        qs = super().get_queryset().filter(activated_at__isnull=False)
        return qs.select_related("cluster")

    def create(self, request, *args, **kwargs):
        raise ValidationError(
            {"detail": ["Create environments by submitting a request to /api/provisioning/requests/."]}
        )

    @extend_schema(request=None, responses=ClusterStatusSerializer)
    @action(detail=True, methods=["get"])
    def status(self, request, pk=None, format=None):
        """The namespace as the cluster sees it now: deployments, pods with hints, warnings, quota."""
        from dataclasses import asdict

        from provisioning import kubernetes as kube

        env_request = self.get_object()
        if env_request.state != "active" or not (env_request.cluster_id and env_request.namespace):
            return Response(
                {"detail": env_request.kubernetes_note or "This environment has no namespace on a cluster."},
                status=status.HTTP_409_CONFLICT,
            )
        try:
            found = kube.read_status(env_request.cluster.connection(), env_request.namespace)
        except kube.ClusterError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_502_BAD_GATEWAY)
        return Response(asdict(found))

    @extend_schema(request=ExtendSerializer, responses=RequestDetailSerializer)
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None, format=None):
        body = ExtendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._decide(request, services.request_extend, hours=body.validated_data["hours"])

    @extend_schema(request=DestroySerializer, responses=RequestDetailSerializer)
    @action(detail=True, methods=["post"], url_path="destroy")
    def destroy_environment(self, request, pk=None, format=None):
        body = DestroySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._decide(request, services.request_destroy, confirm=body.validated_data["confirm"])


class RunViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RunSerializer
    lookup_value_regex = r"[0-9]+"
    queryset = Run.objects.none()

    def get_object(self):
        runs = Run.objects.select_related("request")
        if self.action == "log":  # polled often: fetch only what the permission check needs
            runs = runs.only("pk", "status", "line_count", "request__requester_id", "request__team_id")
        run = runs.filter(pk=self.kwargs["pk"]).first()
        if run is None or not permissions.can_view(self.request.user, run.request):
            raise Http404
        return run

    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="return lines numbered above this")],
        responses=LogPageSerializer,
    )
    @action(detail=True, methods=["get"])
    def log(self, request, pk=None, format=None):
        """Log lines after ``?after=`` (at most 1,000 per page), in order."""
        run = self.get_object()
        after = parse_int(request.query_params.get("after", "0"))
        if after is None:
            raise ValidationError({"after": ["A line number (a whole number, 0 or more) is expected."]})
        lines = selectors.log_lines(run, after=after)
        finished = run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED)
        body = {
            "run": run.pk,
            "status": run.status,
            "finished": finished,
            "lines": [{"number": line.number, "text": line.text} for line in lines],
            "next_after": lines[-1].number if lines else after,
        }
        return Response(body)
