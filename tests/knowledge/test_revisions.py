import pytest

from knowledge import services
from knowledge.models import Revision
from portal.models import AuditEvent
from portal.services import ServiceError

pytestmark = pytest.mark.django_db


def test_a_new_page_starts_from_its_kind_template(space, developer):
    runbook = services.page_create(actor=developer, space=space, title="DB failover", kind="runbook")
    for heading in ("## Symptoms", "## Diagnosis", "## Mitigation", "## Escalation"):
        assert heading in runbook.body
    postmortem = services.page_create(actor=developer, space=space, title="Outage", kind="postmortem")
    for heading in ("## Summary", "## Impact", "## Timeline", "## Root cause", "## Action items"):
        assert heading in postmortem.body


def test_every_save_writes_a_revision_and_an_audit_event(page, teammate):
    first = page.current_revision
    rev = services.page_update(
        actor=teammate, page=page, title=page.title, body="v2", base_revision_id=first.pk, message="second"
    )
    assert rev.number == 2 and rev.message == "second" and rev.author == teammate
    assert list(page.revisions.values_list("number", flat=True)) == [2, 1]
    page.refresh_from_db()
    assert page.body == "v2" and page.current_revision == rev
    assert AuditEvent.objects.filter(action="knowledge.page.update", object_id=str(page.pk)).exists()


def test_the_second_saver_gets_a_conflict_and_nothing_is_overwritten(page, developer, teammate):
    base = page.current_revision.pk
    services.page_update(actor=developer, page=page, title=page.title, body="Alice's text", base_revision_id=base)
    with pytest.raises(services.EditConflict) as conflict:
        services.page_update(actor=teammate, page=page, title=page.title, body="Bob's text", base_revision_id=base)
    page.refresh_from_db()
    assert page.body == "Alice's text"
    assert page.revisions.count() == 2
    assert "-Alice's text" in conflict.value.diff and "+Bob's text" in conflict.value.diff
    assert "dev saved this page" in str(conflict.value)


def test_saving_the_same_text_from_an_old_base_is_not_a_conflict(page, developer):
    base = page.current_revision.pk
    services.page_update(actor=developer, page=page, title=page.title, body="same", base_revision_id=base)
    services.page_update(actor=developer, page=page, title=page.title, body="same", base_revision_id=base)
    assert page.revisions.count() == 3


def test_revert_makes_a_new_revision_with_the_old_text(page, developer):
    first = page.current_revision
    services.page_update(actor=developer, page=page, title="Renamed", body="changed", base_revision_id=first.pk)
    rev = services.page_revert(actor=developer, page=page, revision_id=first.pk)
    page.refresh_from_db()
    assert rev.number == 3 and page.body == first.body and page.title == "Checkout overview"
    assert "Reverted to revision 1" in rev.message


def test_revert_refuses_a_revision_of_another_page(page, space, developer):
    other = services.page_create(actor=developer, space=space, title="Other")
    with pytest.raises(ServiceError):
        services.page_revert(actor=developer, page=page, revision_id=other.current_revision.pk)


def test_a_page_over_the_size_limit_is_refused_and_nothing_is_saved(page, developer, settings):
    settings.KNOWLEDGE_MAX_PAGE_BYTES = 1000
    with pytest.raises(ServiceError, match="too large"):
        services.page_update(
            actor=developer, page=page, title=page.title, body="x" * 2000, base_revision_id=page.current_revision_id
        )
    assert Revision.objects.filter(page=page).count() == 1


def test_pages_form_a_tree_and_cannot_move_under_their_own_child(space, developer):
    parent = services.page_create(actor=developer, space=space, title="Parent")
    child = services.page_create(actor=developer, space=space, title="Child", parent=parent)
    with pytest.raises(ServiceError, match="under itself"):
        services.page_move(actor=developer, page=parent, parent=child)
    from knowledge.selectors import breadcrumbs, page_tree

    assert [p.title for p, _ in page_tree(space)] == ["Parent", "Child"]
    assert breadcrumbs(child) == [parent]


def test_tags_are_tidied_and_titles_make_unique_slugs(space, developer):
    a = services.page_create(actor=developer, space=space, title="Deploys", tags="Ops, ops ,  On   Call")
    b = services.page_create(actor=developer, space=space, title="Deploys")
    assert sorted(a.tags.values_list("name", flat=True)) == ["On Call", "Ops"]
    assert sorted(a.tags.values_list("slug", flat=True)) == ["on-call", "ops"]
    assert (a.slug, b.slug) == ("deploys", "deploys-2")


def _move_and_tag(page, actor, parent):
    """A saves from the current revision: moves the page under ``parent`` and tags it ``a``."""
    services.page_update(
        actor=actor, page=page, title=page.title, body=page.body, base_revision_id=page.current_revision_id,
        parent=parent, tags=["a"],
    )  # fmt: skip


def test_a_stale_form_that_would_undo_a_move_and_tags_is_a_conflict(login, page, space, developer, teammate):
    base = page.current_revision_id
    parent = services.page_create(actor=developer, space=space, title="Parent")
    _move_and_tag(page, developer, parent)
    response = login(teammate).post(
        page.url_for("page-edit"),
        {"title": page.title, "kind": "article", "body": page.body, "tags": "b", "parent": "", "base_revision": base},
    )
    assert response.status_code == 409
    content = response.content.decode()
    assert "Conflict: your changes were not saved" in content
    assert "The saved page differs from yours in: parent page, tags." in content
    page.refresh_from_db()
    assert page.parent == parent and list(page.tags.values_list("name", flat=True)) == ["a"]
    assert page.revisions.count() == 2


def test_a_stale_api_edit_that_would_undo_a_move_and_tags_is_a_409(client, page, space, developer, teammate):
    base = page.current_revision_id
    parent = services.page_create(actor=developer, space=space, title="Parent")
    _move_and_tag(page, developer, parent)
    client.force_login(teammate)
    response = client.patch(
        f"/api/knowledge/pages/{page.pk}/",
        {"body": page.body, "tags": ["b"], "parent": None, "base_revision": base},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert "differs from yours in: parent page, tags" in response.json()["error"]["message"]
    page.refresh_from_db()
    assert page.parent == parent and list(page.tags.values_list("name", flat=True)) == ["a"]


def test_a_stale_api_edit_of_fields_it_does_not_send_is_still_saved(client, page, space, developer, teammate):
    base = page.current_revision_id
    parent = services.page_create(actor=developer, space=space, title="Parent")
    _move_and_tag(page, developer, parent)
    client.force_login(teammate)
    response = client.patch(
        f"/api/knowledge/pages/{page.pk}/", {"body": page.body, "base_revision": base}, content_type="application/json"
    )
    assert response.status_code == 200
    page.refresh_from_db()
    assert page.parent == parent and list(page.tags.values_list("name", flat=True)) == ["a"]
