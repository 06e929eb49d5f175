from django.apps import AppConfig


def _entity_of(*args):
    """The entity among a tab-context call's arguments (the catalog passes it with the request or user)."""
    from catalog.models import Entity

    return next((a for a in args if isinstance(a, Entity)), None)


TAB_PAGES = 50


def runbooks_tab_context(*args) -> dict:
    from knowledge import selectors

    entity = _entity_of(*args)
    if entity is None:
        return {"kb_pages": []}
    # The tab shows the first pages; the "all" link leads to the complete, paginated list. (Incidents
    # are on the Alerts tab of the incidents app.)
    pages = list(selectors.pages_for_entity(entity)[: TAB_PAGES + 1])
    return {
        "entity": entity,
        "kb_pages": pages[:TAB_PAGES],
        "kb_pages_more": len(pages) > TAB_PAGES,
        "kb_pages_count": selectors.pages_for_entity(entity).count() if len(pages) > TAB_PAGES else len(pages),
    }


def docs_tab_context(*args) -> dict:
    from django.urls import reverse

    from knowledge import permissions, services
    from knowledge.models import ServiceDocsBuild

    entity = _entity_of(*args)
    user = next((getattr(a, "user", a) for a in args if a is not entity and a is not None), None)
    if entity is None:
        return {}
    annotated = bool((entity.annotations or {}).get(services.TECHDOCS_ANNOTATION))
    built = (services.service_docs_dir(entity.pk) / "index.html").is_file()
    return {
        "entity": entity,
        "docs_annotated": annotated,
        "docs_annotation": services.TECHDOCS_ANNOTATION,
        "docs_build": ServiceDocsBuild.objects.filter(entity=entity).first(),
        "docs_url": reverse("knowledge:docs", args=[entity.pk]) if built else "",
        "docs_can_build": annotated and permissions.can_build_service_docs(user, entity),
    }


def recent_runbooks_panel(user) -> dict:
    from django.urls import reverse

    from knowledge import selectors

    pages = selectors.recently_edited(kind="runbook", limit=8)
    return {
        "items": [
            {"label": p.title, "url": p.get_absolute_url(), "meta": f"{p.space.name} · {p.updated_at:%Y-%m-%d}"}
            for p in pages
        ],
        "empty": "No runbooks yet. Write one in your team's space: symptoms, diagnosis, mitigation, escalation.",
        "action_url": reverse("knowledge:index"),
        "action_label": "Open the knowledge base",
        "more_url": reverse("knowledge:search") + "?kind=runbook" if pages else "",
    }


def _docs_space(space, pages: int | None = None):
    from portal.extensions import DocsSpace

    count = space.pages.count() if pages is None else pages
    return DocsSpace(key=space.key, name=space.name, url=space.get_absolute_url(), pages=count)


def docs_space_create(*, actor, key, name, owner, entity, files):
    from knowledge import services

    space, result = services.space_create_from_project(
        actor=actor, key=key, name=name, owner=owner, files=files, entity_ids=[entity.pk] if entity else None
    )
    return _docs_space(space, result.created + result.updated + result.unchanged)


def docs_space_find(key):
    from knowledge.models import Space

    space = Space.objects.filter(key=key).first()
    return _docs_space(space) if space else None


def docs_space_delete(*, actor, key):
    from knowledge import services
    from knowledge.models import Space

    space = Space.objects.filter(key=key).first()
    if space is not None:
        services.space_delete(actor=actor, space=space)


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge base"

    def ready(self) -> None:
        from catalog.models import SOFTWARE_KINDS
        from knowledge import demo
        from portal.extensions import (
            EntityTab,
            HomePanel,
            register_demo_seeder,
            register_entity_tab,
            register_home_panel,
        )

        register_entity_tab(
            EntityTab(
                "runbooks", "Runbooks", "knowledge/entity_runbooks.html", 40, runbooks_tab_context, kinds=SOFTWARE_KINDS
            )
        )
        # A team's docs (a Group with a techdocs annotation) are docs too.
        register_entity_tab(
            EntityTab(
                "docs", "Docs", "knowledge/entity_docs.html", 30, docs_tab_context, kinds=(*SOFTWARE_KINDS, "Group")
            )
        )
        register_home_panel(
            HomePanel(
                "recent-runbooks", "Recently edited runbooks", "partials/panel_list.html", 40, recent_runbooks_panel
            )
        )
        register_demo_seeder("knowledge", demo.seed, order=60)

        from portal.extensions import DocsSpaces, register_docs_spaces

        register_docs_spaces(DocsSpaces(create=docs_space_create, find=docs_space_find, delete=docs_space_delete))

        from knowledge import search as knowledge_search
        from portal.extensions import SearchProvider, register_search_provider

        register_search_provider(
            SearchProvider("knowledge", "Pages and runbooks", 20, knowledge_search.search_knowledge)
        )

        from catalog.scorecards import register_data_source
        from knowledge import scorecard_sources

        register_data_source("runbooks", scorecard_sources.runbook_counts)
        register_data_source("docs", scorecard_sources.has_docs)
