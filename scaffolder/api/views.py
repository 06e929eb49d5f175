"""The scaffolder API: the same services and permission functions as the pages."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from portal.services import PermissionDenied as ServicePermissionDenied
from portal.services import ServiceError
from scaffolder import permissions, sandbox, selectors, services
from scaffolder.api.serializers import DryRunSerializer, RunCreateSerializer, RunSerializer, SoftwareTemplateSerializer
from scaffolder.models import ScaffolderRun, SoftwareTemplate


class TemplateViewSet(viewsets.ReadOnlyModelViewSet):
    """Published software templates with their parameters' JSON Schema; ``?tag=`` and ``?owner=`` filter."""

    serializer_class = SoftwareTemplateSerializer
    lookup_field = "name"
    queryset = SoftwareTemplate.objects.none()

    def get_queryset(self):
        params = self.request.query_params
        return selectors.templates_published(tag=params.get("tag", "")[:64], owner=params.get("owner", "")[:200])


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Runs you can see. ``POST`` with ``dry_run: true`` renders and returns the file tree, creating nothing."""

    serializer_class = RunSerializer
    queryset = ScaffolderRun.objects.none()

    def get_queryset(self):
        return selectors.runs_of(self.request.user).prefetch_related("steps", "log_lines")

    def get_object(self):
        run = selectors.run_detail(self.kwargs["pk"]) if str(self.kwargs.get("pk", "")).isdigit() else None
        if run is None or not permissions.can_view(self.request.user, run):
            raise Http404
        return run

    @extend_schema(request=RunCreateSerializer, responses={201: RunSerializer, 200: DryRunSerializer})
    def create(self, request, *args, **kwargs):
        serializer = RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        dry_run = data.pop("dry_run")
        template = selectors.templates_published().filter(name=data.pop("template")).first()
        if template is None:
            raise ValidationError({"template": ["No published software template has this name."]})
        data["parameters"] = data.get("parameters") or {}
        try:
            if dry_run:
                checked, errors = services.run_check(user=request.user, template=template, **data)
                if errors:
                    raise ValidationError(errors)
                try:
                    files = services.preview_files(template=template, requester=request.user, **checked)
                except sandbox.TemplateRefused as exc:
                    raise ValidationError({"template": [str(exc)]}) from None
                return Response({"dry_run": True, "files": services.file_tree(files)})
            run = services.run_draft(user=request.user, template=template, **data)
            run = services.run_confirm(user=request.user, run_id=run.pk)
        except services.RunInvalid as exc:
            raise ValidationError(exc.errors) from None
        except ServicePermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        except ServiceError as exc:
            raise ValidationError({"detail": [str(exc)]}) from None
        return Response(RunSerializer(selectors.run_detail(run.pk)).data, status=status.HTTP_201_CREATED)
