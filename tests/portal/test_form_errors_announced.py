"""Forms sent back with errors say so to screen readers: each invalid control is marked
``aria-invalid`` and described (``aria-describedby``) by its error message and its help text,
and no ``aria-describedby`` points at nothing."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.security import world as world_module

pytestmark = pytest.mark.django_db


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: dict[str, list[str]] = {}  # id -> text inside
        self.controls: list[dict] = []  # attributes of every element with aria-describedby or aria-invalid
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "aria-describedby" in attrs or "aria-invalid" in attrs:
            self.controls.append({"tag": tag, **attrs})
        if tag in ("input", "br", "img", "meta", "link", "hr"):
            return
        self._open.append((tag, attrs.get("id")))
        if attrs.get("id"):
            self.ids[attrs["id"]] = []

    def handle_endtag(self, tag):
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        for _, element_id in self._open:
            if element_id:
                self.ids[element_id].append(data)

    def text(self, element_id: str) -> str:
        return " ".join("".join(self.ids.get(element_id, [])).split())


def _problems(html: str) -> tuple[list[str], int]:
    page = _Page()
    page.feed(html)
    problems, invalid = [], 0
    for control in page.controls:
        name = control.get("name") or control.get("id") or control["tag"]
        refs = (control.get("aria-describedby") or "").split()
        missing = [ref for ref in refs if ref not in page.ids]
        if missing:
            problems.append(f"{name}: aria-describedby names {missing}, which are not on the page")
        if control.get("aria-invalid") == "true":
            invalid += 1
            if not any(ref.endswith("_error") and page.text(ref) for ref in refs):
                problems.append(f"{name}: invalid, but not described by an error message")
    return problems, invalid


@pytest.fixture
def world(request, settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PROVISIONING_WORK_DIR = tmp_path / "work"
    settings.MEDIA_ROOT = tmp_path / "media"
    roles = ("developer", "teammate", "stranger", "approver", "platform_admin")
    return world_module.build({role: request.getfixturevalue(role) for role in roles})


def test_invalid_fields_are_described_by_their_error_and_help(world, client):
    forms = [
        ("developer", "/catalog/new/", {"kind": "Component", "name": "Not A Name!", "owner": "team-matrix"}),
        ("developer", f"/environments/new/{world.template.name}/", {"name": "X", "n": "0"}),
        ("platform_admin", "/catalog/scorecards/new/", {"name": "", "rules": "gold: no_such_rule"}),
        ("platform_admin", "/catalog/locations/", {"add-discovery": "1", "host": "", "owner": ""}),
        ("developer", "/knowledge/s/matrix/new/", {"title": "", "kind": "article", "body": "x"}),
    ]
    checked = 0
    for role, url, data in forms:
        client.force_login(world.users[role])
        response = client.post(url, data)
        assert response.status_code in (200, 400), (url, response.status_code)
        problems, invalid = _problems(response.content.decode())
        assert invalid, f"{url}: the form came back without an invalid field"
        assert not problems, f"{url}:\n" + "\n".join(problems)
        checked += invalid
    assert checked >= len(forms)
