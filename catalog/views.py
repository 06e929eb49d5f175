from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from catalog.models import Entity


@login_required
def index(request):
    page = Paginator(Entity.objects.order_by("kind", "name"), 50).get_page(request.GET.get("page"))
    return render(request, "catalog/index.html", {"page": page})


@login_required
def entity(request, kind: str, namespace: str, name: str):
    obj = get_object_or_404(Entity, kind__iexact=kind, namespace__iexact=namespace, name__iexact=name)
    relations = obj.relations.select_related("target").order_by("type", "target_ref")
    return render(request, "catalog/entity.html", {"entity": obj, "relations": relations})
