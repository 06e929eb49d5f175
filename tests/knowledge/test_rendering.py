import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from knowledge import services
from knowledge.models import RevisionRender
from knowledge.rendering import RENDERER_VERSION, page_meta, render_markdown, split_front_matter, task_steps
from knowledge.selectors import page_rendered


def test_admonitions_render_as_styled_boxes():
    html = render_markdown('!!! warning "Careful"\n    Body').html
    assert '<div class="admonition warning">' in html and '<p class="admonition-title">Careful</p>' in html


def test_fenced_code_is_highlighted_with_pygments():
    html = render_markdown("```python\ndef f():\n    return 1\n```").html
    assert '<div class="highlight">' in html and '<span class="k">def</span>' in html


def test_tables_keep_their_alignment_and_nothing_else():
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |").html
    assert "<table>" in html and "<td" in html
    assert re.search(r'<th style="text-align:\s*right;?">b</th>', html)


def test_task_lists_render_as_disabled_checkboxes():
    html = render_markdown("- [ ] one\n- [x] two").html
    assert '<ul class="task-list">' in html
    assert html.count('type="checkbox"') == 2 and html.count(" disabled") == 2 and "checked" in html


def test_headings_get_prefixed_anchors_and_a_table_of_contents():
    rendered = render_markdown("# Main\n\n## Deploy steps\n\n[jump](#deploy-steps)")
    assert 'id="kb-main"' in rendered.html and 'id="kb-deploy-steps"' in rendered.html
    assert 'href="#kb-deploy-steps"' in rendered.html
    assert 'href="#kb-deploy-steps"' in rendered.toc


def test_footnotes_and_abbreviations():
    html = render_markdown("Text[^1] about HTML.\n\n[^1]: The note.\n\n*[HTML]: Hyper Text Markup Language").html
    assert 'id="kb-fn:1"' in html and 'href="#kb-fn:1"' in html
    assert '<abbr title="Hyper Text Markup Language">HTML</abbr>' in html


def test_runbook_steps_are_the_task_list_items_outside_code():
    assert task_steps("- [ ] a\n* [x] b\n```\n- [ ] c\n```\n") == ["a", "b"]


XSS_CORPUS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert(1)//",
    '<svg onload="alert(1)"><circle r="1"/></svg>',
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click]( javascript:alert(1) )",
    "![img](javascript:alert(1))",
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '[ref][r]\n\n[r]: javascript:alert(1) "t"',
    "<javascript:alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="https://evil.example"><button>go</button></form>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p onclick="alert(1)" onmouseover=alert(1)>x</p>',
    "<details open ontoggle=alert(1)><summary>x</summary></details>",
    "<input autofocus onfocus=alert(1)>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    "<style>body{display:none}</style>",
    '<div id="main">clobber</div><form name="getElementById"></form>',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<scr<script>ipt>alert(1)</script>",
    '<a href="#" title="x" onmouseover="alert(1)">hover</a>',
    "```html\n<script>alert(1)</script>\n```",
    "[[<script>alert(1)</script>]]",
    '[[x" onmouseover="alert(1)]]',
    '!!! note "<img src=x onerror=alert(1)>"\n    body',
    "<!-- --><script>alert(1)</script><!-- -->",
    '<a href="vbscript:msgbox(1)">x</a>',
    '<img src="x" srcset="javascript:alert(1)">',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<a href="da&#x09;ta:text/html,<script>alert(1)</script>">x</a>',
    '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
    '<img src="da\nta:text/html;base64,PHNjcmlwdD4=">',
    '<a href="data:image/png;base64,iVBORw0KGgo=">png link</a>',
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '```python title="<img src=x onerror=alert(1)>"\nx\n```',
    '```python hl_lines="1" linenums="1" title=\'"><script>alert(1)</script>\'\nx\n```',
    '??? note "<img src=x onerror=alert(1)>"\n    body',
    "!!! note\n    ```html\n    <script>alert(1)</script>\n    ```",
    '[[x#" onmouseover="alert(1)]]',
    '[x](page.md#" onmouseover="alert(1))',
    # mkdocs-material syntax: content tabs, attribute lists, Markdown in HTML, keys, icons.
    '=== "<img src=x onerror=alert(1)>"\n\n    body',
    '=== "Tab" { onclick=alert(1) }\n\n    <script>alert(1)</script>',
    '=== "A"\n\n    a\n\n=== "B" onmouseover="alert(1)"\n\n    b',
    '<input type="radio" name="__tabbed_1" id="x" onclick="alert(1)" form="logout"><label for="x">t</label>',
    '<input type="text" name="password" value="x"><input type="radio" name="csrfmiddlewaretoken">',
    "# Heading { onclick=alert(1) #main .message-error }",
    '[x](https://example.com){ onmouseover="alert(1)" style="position:fixed;inset:0" target=_blank }',
    "![x](x.png){ onerror=alert(1) src=javascript:alert(1) }",
    "paragraph\n{: .button .primary #content onclick=alert(1) }",
    '[x](javascript:alert(1)){ href="javascript:alert(1)" }',
    '<div markdown class="message message-error" onclick="alert(1)">**Your session expired**</div>',
    '<div markdown="1">\n<script>alert(1)</script>\n</div>',
    '<details markdown ontoggle="alert(1)" open>\n<summary>x</summary>\n*y*\n</details>',
    "Term <img src=x onerror=alert(1)>\n:   Definition <script>alert(1)</script>",
    "++ctrl+<img src=x onerror=alert(1)>++ ==<script>alert(1)</script>== ^^x^^ ~~y~~",
    ":material-../../../../etc/passwd: :fontawesome-<script>: :smile:",
    '<kbd class="key-ctrl message-error">x</kbd><span class="keys button">y</span>',
    '---\ntitle: "<script>alert(1)</script>"\n---\n# Hi',
]


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "form", "meta", "base", "link", "style", "svg", "math"}


@pytest.mark.parametrize("payload", XSS_CORPUS)
def test_the_xss_corpus_renders_inert(payload):
    parser = _Elements()
    parser.feed(render_markdown(payload).html)
    for tag, attrs in parser.elements:
        assert tag not in DANGEROUS_TAGS, (tag, attrs)
        for name, value in attrs.items():
            value = (value or "").strip().lower()
            assert not name.startswith("on"), (tag, attrs)
            if name in ("href", "src", "srcset", "action", "data", "xlink:href"):
                compact = re.sub(r"[\x00-\x20]", "", value)
                assert not compact.startswith(("javascript:", "vbscript:")), (tag, attrs)
                if compact.startswith("data:"):
                    assert tag == "img" and name == "src", (tag, attrs)
                    assert re.fullmatch(r"data:image/(png|jpeg|gif|webp);base64,[a-z0-9+/=]+", compact), attrs
            if name == "id":
                assert value.startswith("kb-"), (tag, attrs)
            if name == "style":
                assert re.fullmatch(r"text-align:\s*\w+;?", value), (tag, attrs)
            if name == "class":
                assert not {"message", "message-error", "button", "primary"} & set(value.split()), (tag, attrs)
            if name in ("for", "name"):
                assert tag in ("label", "input") and value.startswith("kb-"), (tag, attrs)
            if name in ("form", "target", "formaction"):
                raise AssertionError((tag, attrs))
        if tag == "input":
            assert attrs.get("type") in ("checkbox", "radio"), attrs
            assert attrs.get("type") == "radio" or "disabled" in attrs, attrs
        if tag == "img" and "kb-icon" in (attrs.get("class") or ""):
            assert re.fullmatch(r"/knowledge/icons/[a-z]+/[a-z0-9/_-]+\.svg", attrs["src"]), attrs


@pytest.mark.django_db
def test_wiki_links_resolve_to_pages_and_broken_ones_are_flagged(space, developer):
    target = services.page_create(actor=developer, space=space, title="Deploy guide", body="x")
    page = services.page_create(
        actor=developer, space=space, title="Home", body="See [[deploy guide]], [[Nowhere]] and [rel](deploy-guide.md)."
    )
    html = page_rendered(page).html
    assert f'<a class="wikilink" href="{target.get_absolute_url()}">deploy guide</a>' in html
    assert f'href="{target.get_absolute_url()}">rel</a>' in html
    assert 'class="wikilink broken"' in html and "No page called Nowhere yet" in html


@pytest.mark.django_db
def test_a_broken_link_is_fixed_once_the_page_exists_without_a_new_revision(space, developer):
    page = services.page_create(actor=developer, space=space, title="Home", body="[[Later]]")
    assert "broken" in page_rendered(page).html
    services.page_create(actor=developer, space=space, title="Later", body="x")
    assert "broken" not in page_rendered(page).html


@pytest.mark.django_db
def test_a_saved_revision_is_rendered_once_and_stored_for_every_reader(
    space, developer, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        page = services.page_create(actor=developer, space=space, title="Big", body="# Title\n\nFirst text")
    stored = RevisionRender.objects.get(revision=page.current_revision)
    assert "First text" in stored.html and stored.renderer_version == RENDERER_VERSION
    # Readers get the stored render, not a new one: a marker written into it shows on the page.
    RevisionRender.objects.filter(pk=stored.pk).update(html="<p>served from the store</p>")
    client.force_login(developer)
    assert "served from the store" in client.get(page.get_absolute_url()).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        services.page_update(
            actor=developer, page=page, title="Big", body="Second text", message="edit",
            base_revision_id=page.current_revision_id,
        )  # fmt: skip
    page.refresh_from_db()
    assert "Second text" in client.get(page.get_absolute_url()).content.decode()
    # One stored render per page: the first revision's goes, and comes back when it is opened.
    assert [r.pk for r in RevisionRender.objects.filter(revision__page=page)] == [page.current_revision_id]
    first_revision_url = reverse("knowledge:page-revision", args=[space.key, page.slug, 1])
    assert "First text" in client.get(first_revision_url).content.decode()
    assert RevisionRender.objects.filter(revision__page=page).count() == 2


@pytest.mark.django_db
def test_a_missing_or_outdated_render_is_rendered_on_read_and_stored(page):
    RevisionRender.objects.filter(revision__page=page).delete()
    assert "Hello." in page_rendered(page).html
    stored = RevisionRender.objects.get(revision_id=page.current_revision_id)
    assert stored.renderer_version == RENDERER_VERSION
    # A render from an older renderer (say, before the sanitizer's allowlist was tightened)
    # is never served: it is rendered again.
    RevisionRender.objects.filter(pk=stored.pk).update(renderer_version="0", html="<p>old render</p>")
    assert "old render" not in page_rendered(page).html
    assert RevisionRender.objects.get(pk=stored.pk).renderer_version == RENDERER_VERSION


def test_raster_images_may_be_inlined_as_data_urls_but_nothing_else():
    html = render_markdown("![dot](data:image/png;base64,iVBORw0KGgo=) [x](data:image/png;base64,iVBORw0KGgo=)").html
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in html and 'alt="dot"' in html
    assert html.count("data:") == 1


@pytest.mark.django_db
def test_render_pages_stores_missing_and_outdated_renders_of_current_revisions_only(space, developer):
    from io import StringIO

    from django.core.management import call_command

    # Created without running on-commit work: no render is stored yet (as after the upgrade
    # that introduced stored renders).
    missing = services.page_create(actor=developer, space=space, title="Missing", body="Missing body")
    outdated = services.page_create(actor=developer, space=space, title="Outdated", body="Old body")
    services.page_update(
        actor=developer, page=outdated, title="Outdated", body="New body", base_revision_id=outdated.current_revision_id
    )
    outdated.refresh_from_db()
    page_rendered(outdated)
    RevisionRender.objects.filter(revision_id=outdated.current_revision_id).update(renderer_version="0")
    current = services.page_create(actor=developer, space=space, title="Current", body="Current body")
    page_rendered(current)
    current_render = RevisionRender.objects.get(revision_id=current.current_revision_id)

    out = StringIO()
    call_command("render_pages", stdout=out)
    assert "2 page(s) rendered." in out.getvalue()
    assert "Missing body" in RevisionRender.objects.get(revision_id=missing.current_revision_id).html
    refreshed = RevisionRender.objects.get(revision_id=outdated.current_revision_id)
    assert refreshed.renderer_version == RENDERER_VERSION and "New body" in refreshed.html
    assert RevisionRender.objects.get(pk=current_render.pk).rendered_at == current_render.rendered_at
    # Only current revisions: the first revision of "Outdated" is rendered when someone opens it.
    assert RevisionRender.objects.filter(revision__page=outdated).count() == 1

    out = StringIO()
    call_command("render_pages", stdout=out)
    assert "0 page(s) rendered." in out.getvalue()


# --- anchors in links between pages --------------------------------------------------------


@pytest.mark.django_db
def test_links_to_a_section_of_another_page_resolve_to_its_heading(space, developer):
    target = services.page_create(
        actor=developer, space=space, title="Deploy guide", body="# Deploy guide\n\n## Roll back plan\n\nSteps."
    )
    heading_id = re.search(r'<h2 id="([^"]+)">Roll back plan', page_rendered(target).html).group(1)
    page = services.page_create(
        actor=developer,
        space=space,
        title="Home",
        body=(
            "[[Deploy guide#Roll back plan]], [[deploy guide#Roll back plan|how to undo]], "
            "[rel](deploy-guide.md#roll-back-plan) and [[Nowhere#Intro]]."
        ),
    )
    html = page_rendered(page).html
    url = f"{target.get_absolute_url()}#{heading_id}"
    assert f'<a class="wikilink" href="{url}">Deploy guide#Roll back plan</a>' in html
    assert f'<a class="wikilink" href="{url}">how to undo</a>' in html
    assert f'<a class="wikilink" href="{url}">rel</a>' in html
    assert "No page called Nowhere yet" in html and html.count("broken") == 1


def test_a_wikilink_to_a_section_of_the_same_page_points_at_its_heading():
    html = render_markdown("## Roll back\n\nSee [[#Roll back|below]].").html
    from knowledge.rendering import resolve_links

    html = resolve_links(html, lambda kind, value: None)
    assert '<h2 id="kb-roll-back">' in html and '<a class="wikilink" href="#kb-roll-back">below</a>' in html


# --- code in admonitions and lists, collapsible admonitions --------------------------------


def test_fenced_code_inside_an_admonition_or_a_list_item_is_highlighted():
    html = render_markdown('!!! warning "Careful"\n    Run:\n\n    ```bash\n    rm -rf /tmp/x\n    ```\n').html
    admonition = html[html.index('<div class="admonition warning">') :]
    assert '<div class="highlight">' in admonition and '<span class="w">' in admonition
    assert "<p><code>bash" not in html
    html = render_markdown("1. Step\n\n    ```python\n    def f(): pass\n    ```\n").html
    assert '<li>\n<p>Step</p>\n<div class="highlight">' in html and '<span class="k">def</span>' in html


def test_collapsible_admonitions_render_as_details_closed_or_open():
    html = render_markdown('??? note "Why"\n    Hidden reason.\n\n???+ tip\n    Shown tip.\n').html
    assert '<details class="note">\n<summary>Why</summary>\n<p>Hidden reason.</p>\n</details>' in html
    assert re.search(r'<details class="tip" open(="")?>\n<summary>Tip</summary>', html)


def test_code_block_titles_line_numbers_and_highlighted_lines_keep_their_markup():
    html = render_markdown('```python hl_lines="1" title="x.py" linenums="1"\na = 1\n```').html
    for fragment in ('class="highlighttable"', '<th colspan="2" class="filename">', 'class="linenos"', 'class="hll"'):
        assert fragment in html


def test_runbook_steps_skip_a_longer_fence_that_shows_a_fence_with_tasks():
    text = "````md\n```\n- [ ] not a step\n```\n````\n\n- [ ] real step\n"
    assert task_steps(text) == ["real step"]
    html = render_markdown(text).html
    assert html.count('type="checkbox"') == 1 and "not a step" in html


# --- ids and classes are reserved for what the portal and the extensions emit -------------


def test_ids_that_already_start_with_the_prefix_are_prefixed_too_and_links_still_match():
    rendered = render_markdown("# KB file\n\n[up](#kb-file) and a note[^kb]\n\n[^kb]: Footnote.")
    html = rendered.html
    assert 'id="kb-file"' not in html and '<h1 id="kb-kb-file">' in html
    assert 'href="#kb-kb-file"' in html and 'href="#kb-kb-file"' in rendered.toc
    assert 'id="kb-fnref:kb"' in html and 'href="#kb-fn:kb"' in html
    assert 'id="kb-fn:kb"' in html and 'href="#kb-fnref:kb"' in html


def test_a_page_cannot_borrow_the_portals_classes():
    html = render_markdown(
        '<p class="message-error">Your account is locked</p>\n\n<a class="button primary" href="/x">Unlock</a>\n\n'
        '<div class="admonition note message-success">x</div>'
    ).html
    assert "message-error" not in html and "button" not in html and "primary" not in html
    assert "message-success" not in html and '<div class="admonition note">' in html


def test_every_extension_keeps_the_classes_it_emits():
    html = render_markdown(
        '!!! danger "Stop"\n    x\n\n??? faq\n    y\n\n```python\nimport os\n```\n\n'
        "- [x] done\n\nText[^1]\n\n[^1]: Note.\n\n## Head\n"
    ).html
    for fragment in (
        '<div class="admonition danger">', '<p class="admonition-title">Stop</p>', '<details class="faq">',
        '<div class="highlight">', '<span class="kn">import</span>', '<ul class="task-list">',
        '<li class="task-list-item">', 'class="footnote-ref"', '<div class="footnote">', 'class="footnote-backref"',
        'class="headerlink"',
    ):  # fmt: skip
        assert fragment in html
    assert '<div class="toc">' in render_markdown("# A\n## B").toc


def test_a_markdown_link_whose_text_is_in_brackets_is_not_a_wikilink():
    html = render_markdown("See [[1]](https://example.com/ref).").html
    assert '<a href="https://example.com/ref" rel="noopener noreferrer">[1]</a>' in html
    assert "data-wikilink" not in html


MATERIAL_PAGE = """---
title: Deploying
description: How we ship checkout.
tags: [数据库, C++]
hide:
  - toc
status: new
---

# Deploying { #deploy-it }

=== "Kubernetes"

    ```bash
    kubectl rollout undo deployment/checkout-api
    ```

=== "Nomad"

    Run `nomad job revert`.

Canary
:   A first small share of traffic.

<div class="grid" markdown>
**Markdown** inside HTML
</div>

Press ++ctrl+c++ to stop; ==watch== the ^^new^^ and ~~old~~ pods :material-check: :smile:

[Back](#deploy-it)
"""


def test_mkdocs_material_syntax_renders_as_the_writer_meant_it():
    rendered = render_markdown(MATERIAL_PAGE)
    html = rendered.html
    for literal in ("===", "{ #", ":material-", "title: Deploying", "status: new", "**Markdown**"):
        assert literal not in html, literal
    assert '<h1 id="kb-deploy-it">' in html and 'href="#kb-deploy-it"' in html
    assert '<label for="kb-deploy-it-kubernetes">Kubernetes</label>' in html and 'type="radio"' in html
    assert "<dt>Canary</dt>" in html and "<strong>Markdown</strong> inside HTML" in html
    assert '<kbd class="key-control">Ctrl</kbd>' in html and "<mark>watch</mark>" in html
    assert "<ins>new</ins>" in html and "<del>old</del>" in html and "😄" in html
    assert '<img alt="check" class="kb-icon" src="/knowledge/icons/material/check.svg">' in html
    assert "Deploying" in rendered.toc and "title" not in rendered.toc


def test_front_matter_is_kept_as_page_settings(login, developer, space):
    page = services.page_create(actor=developer, space=space, title="Deploying", body=MATERIAL_PAGE)
    html = login(developer).get(page.get_absolute_url()).content.decode()
    assert '<p class="kb-description">How we ship checkout.</p>' in html
    assert "On this page" not in html  # hide: [toc]
    assert page_meta(page.body) == {
        "title": "Deploying",
        "description": "How we ship checkout.",
        "tags": ["数据库", "C++"],
        "hide": ["toc"],
    }


@pytest.mark.parametrize(
    "text",
    ["---\n- a list\n---\n# Hi", "---\na: &x 1\nb: *x\n---\n# Hi", "---\nkey: [unclosed\n---\n# Hi", "---\n# Hi"],
)
def test_text_that_is_not_front_matter_is_shown_as_written(text):
    assert page_meta(text) == {} and split_front_matter(text) == ({}, text)


def test_icons_are_served_by_the_portal_and_nothing_else_is(client):
    response = client.get("/knowledge/icons/material/check.svg")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert "sandbox" in response["Content-Security-Policy"]
    for name in ("material/../../../__init__.py", "material/check.txt", "other/check.svg", "material/nope.svg"):
        assert client.get(f"/knowledge/icons/{name}").status_code == 404, name


def test_unicode_tags_are_kept_and_get_a_slug_of_their_own(developer, space):
    from knowledge.models import Tag

    page = services.page_create(
        actor=developer, space=space, title="DB", tags=["数据库", "C++", "C", "c++ ", "On call"]
    )
    assert sorted(page.tags.values_list("name", flat=True)) == sorted(["数据库", "C++", "C", "On call"])
    assert dict(Tag.objects.values_list("name", "slug")) == {
        "数据库": "数据库", "C++": "c-plus-plus", "C": "c", "On call": "on-call"
    }  # fmt: skip
