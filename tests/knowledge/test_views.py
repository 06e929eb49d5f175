import json
import re

import pytest
from django.urls import reverse

from knowledge import services
from knowledge.models import Page

pytestmark = pytest.mark.django_db


def test_the_knowledge_pages_need_a_sign_in(client, page):
    for url in [reverse("knowledge:index"), page.get_absolute_url(), page.url_for("page-edit")]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_index_shows_an_empty_state_that_says_what_to_do(login, developer):
    response = login(developer).get(reverse("knowledge:index"))
    assert b"No spaces yet" in response.content


def test_a_member_creates_a_space_and_a_runbook_from_its_template(login, developer, team):
    client = login(developer)
    response = client.post(reverse("knowledge:space-create"), {"key": "pay", "name": "Pay", "owner": team.pk})
    assert response.status_code == 302
    response = client.post(
        reverse("knowledge:page-create", args=["pay"]), {"title": "DB failover", "kind": "runbook", "body": ""}
    )
    page = Page.objects.get(space__key="pay")
    assert response["Location"] == page.get_absolute_url()
    shown = client.get(page.get_absolute_url()).content.decode()
    assert "Symptoms" in shown and "Start incident" in shown


def test_a_stranger_reads_but_cannot_edit_a_team_page(login, stranger, page):
    client = login(stranger)
    response = client.get(page.get_absolute_url())
    assert response.status_code == 200 and b"Hello." in response.content
    assert b">Edit<" not in response.content
    assert client.get(page.url_for("page-edit")).status_code == 403
    response = client.post(
        page.url_for("page-edit"), {"title": "x", "kind": "article", "body": "hacked", "base_revision": 1}
    )
    assert response.status_code == 403
    page.refresh_from_db()
    assert page.body != "hacked"


def test_editing_saves_a_revision_with_the_change_message(login, teammate, page):
    client = login(teammate)
    response = client.post(
        page.url_for("page-edit"),
        {"title": page.title, "kind": "article", "body": "new text", "message": "fix typo",
         "base_revision": page.current_revision_id},
    )  # fmt: skip
    assert response.status_code == 302
    history = client.get(page.url_for("page-history")).content.decode()
    assert "fix typo" in history and "teammate" in history


def test_the_second_editor_sees_a_conflict_with_the_diff_and_keeps_their_text(login, developer, teammate, page):
    base = page.current_revision_id
    services.page_update(actor=developer, page=page, title=page.title, body="first saver", base_revision_id=base)
    client = login(teammate)
    response = client.post(
        page.url_for("page-edit"),
        {"title": page.title, "kind": "article", "body": "second saver", "base_revision": base},
    )
    content = response.content.decode()
    assert response.status_code == 409
    assert "Conflict: your changes were not saved" in content
    assert "<del>-first saver</del>" in content and "<ins>+second saver</ins>" in content
    assert ">second saver</textarea>" in content
    page.refresh_from_db()
    assert page.body == "first saver"


def test_the_live_preview_renders_sanitized_markdown(login, developer):
    response = login(developer).post(
        reverse("knowledge:preview"), {"body": "# Hi\n\n<script>alert(1)</script>**bold**"}, HTTP_HX_REQUEST="true"
    )
    assert b"<strong>bold</strong>" in response.content and b"<script" not in response.content


def test_the_live_preview_resolves_links_in_the_space_of_the_page_and_flags_broken_ones(login, developer, page):
    client = login(developer)
    editor = client.get(page.url_for("page-edit")).content.decode()
    hx_vals = json.loads(re.search(r"hx-vals='([^']*)'", editor).group(1))
    assert hx_vals == {"space": "payments", "page": page.slug}
    body = "[[Checkout overview#Checkout|the overview]], [rel](checkout-overview.md) and [[Nowhere]]"
    response = client.post(
        reverse("knowledge:preview"), {"body": body, "space": "payments", "page": page.slug}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    url = page.get_absolute_url()
    assert f'<a class="wikilink" href="{url}#kb-checkout">the overview</a>' in html
    assert f'<a class="wikilink" href="{url}">rel</a>' in html
    assert '<a class="wikilink broken" title="No page called Nowhere yet"' in html and 'href="#"' not in html
    # A page being created has no slug yet: links still resolve in its space.
    new_page = client.post(reverse("knowledge:preview"), {"body": "[[checkout overview]]", "space": "payments"})
    assert f'<a class="wikilink" href="{url}">checkout overview</a>' in new_page.content.decode()


def test_the_preview_of_a_space_that_does_not_exist_is_not_found(login, developer):
    response = login(developer).post(reverse("knowledge:preview"), {"body": "x", "space": "nope"})
    assert response.status_code == 404


def test_a_heading_cannot_take_the_id_of_a_portal_element_on_its_page(login, developer, space):
    page = services.page_create(actor=developer, space=space, title="Files", body="# KB file\n\n# Knowledge file")
    content = login(developer).get(page.get_absolute_url()).content.decode()
    assert 'id="kb-kb-file"' in content and 'id="kb-knowledge-file"' in content
    ids = re.findall(r'\sid="([^"]+)"', content)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert '<input id="knowledge-file" type="file"' in content and 'for="knowledge-file"' in content


def test_diff_between_two_revisions_and_revert(login, developer, page):
    services.page_update(
        actor=developer, page=page, title=page.title, body="line two", base_revision_id=page.current_revision_id
    )
    client = login(developer)
    diff = client.get(page.url_for("page-diff") + "?a=1&b=2").content.decode()
    assert "<ins>+line two</ins>" in diff and "<del>-Hello.</del>" in diff
    response = client.post(reverse("knowledge:page-revert", args=[page.space.key, page.slug, 1]))
    assert response.status_code == 302
    page.refresh_from_db()
    assert page.body == "# Checkout\n\nHello." and page.current_revision.number == 3


def test_a_diff_of_unknown_revisions_is_a_clear_message_not_an_error(login, developer, page):
    response = login(developer).get(page.url_for("page-diff") + "?a=zz&b=99", follow=True)
    assert response.status_code == 200 and b"Give two revision numbers to compare" in response.content


def test_history_of_a_page_with_many_revisions_is_paginated_with_few_queries(
    login, developer, page, django_assert_max_num_queries
):
    from knowledge.models import Revision

    Revision.objects.bulk_create(
        Revision(page=page, number=n, title=page.title, body="x" * 1000, author=developer) for n in range(2, 121)
    )
    client = login(developer)
    with django_assert_max_num_queries(12):
        response = client.get(page.url_for("page-history"))
    assert response.content.decode().count('type="radio" name="a"') == 50
    assert b"Page 1 of 3" in response.content


def test_the_page_detail_query_count_does_not_grow_with_links(
    login, developer, space, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    for n in range(10):
        services.page_create(actor=developer, space=space, title=f"Target {n}", body="x")
    body = " ".join(f"[[Target {n}]]" for n in range(10))
    with django_capture_on_commit_callbacks(execute=True):
        page = services.page_create(actor=developer, space=space, title="Hub", body=body)
    client = login(developer)
    with django_assert_max_num_queries(14):
        response = client.get(page.get_absolute_url())
    assert response.content.decode().count('class="wikilink"') == 10


def test_the_space_page_lists_its_tree(login, developer, space):
    parent = services.page_create(actor=developer, space=space, title="Parent")
    services.page_create(actor=developer, space=space, title="Child", parent=parent)
    content = login(developer).get(space.get_absolute_url()).content.decode()
    assert content.index("Parent") < content.index("Child") and "kb-depth-1" in content


def test_the_editor_moves_a_page_under_another_parent_and_reorders_it(login, developer, space):
    a = services.page_create(actor=developer, space=space, title="A")
    b = services.page_create(actor=developer, space=space, title="B")
    c = services.page_create(actor=developer, space=space, title="C")
    client = login(developer)
    for page, parent, position in [(c, a, 1), (b, a, 2)]:
        response = client.post(
            page.url_for("page-edit"),
            {"title": page.title, "kind": "article", "body": page.body, "parent": parent.pk, "position": position,
             "base_revision": page.current_revision_id},
        )  # fmt: skip
        assert response.status_code == 302
    from knowledge.selectors import page_tree

    assert [(p.title, d) for p, d in page_tree(space)] == [("A", 0), ("C", 1), ("B", 1)]
    c.refresh_from_db()
    assert c.revisions.count() == 2  # a move is a saved edit like any other


def test_the_service_page_runbooks_tab_lists_the_linked_runbook(login, developer, runbook, service):
    url = reverse("catalog:entity", args=[service.kind, service.namespace, service.name])
    body = login(developer).get(url, {"tab": "runbooks"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Checkout is down" in body and runbook.get_absolute_url() in body
    assert "No runbooks or docs are linked" not in body


@pytest.mark.parametrize(
    ("kind", "headings"),
    [
        ("runbook", ["## Symptoms", "## Diagnosis", "## Mitigation", "## Escalation"]),
        ("postmortem", ["## Summary", "## Impact", "## Timeline", "## Root cause", "## Action items"]),
    ],
)
def test_the_editor_of_a_new_page_starts_with_the_template_of_its_kind(login, developer, space, kind, headings):
    import re

    content = login(developer).get(reverse("knowledge:page-create", args=[space.key]) + f"?kind={kind}").content
    textarea = re.search(r'<textarea name="body"[^>]*>(.*?)</textarea>', content.decode(), re.S).group(1)
    assert all(h in textarea for h in headings)


def test_switching_the_kind_of_a_new_page_fetches_its_starting_text(login, developer, space):
    client = login(developer)
    form = client.get(reverse("knowledge:page-create", args=[space.key])).content.decode()
    assert f'data-kind-template="{reverse("knowledge:page-template")}"' in form
    text = client.get(reverse("knowledge:page-template"), {"kind": "postmortem", "title": "Outage"}).content.decode()
    assert text.startswith("# Outage") and "## Root cause" in text


def test_an_impossible_entity_id_in_the_editor_is_a_form_error(login, teammate, page):
    response = login(teammate).post(
        page.url_for("page-edit"),
        {"title": page.title, "kind": "article", "body": "x", "entities": ["9" * 25],
         "base_revision": page.current_revision_id},
    )  # fmt: skip
    assert response.status_code == 200 and "is not a valid value" in response.content.decode()
    assert page.revisions.count() == 1
