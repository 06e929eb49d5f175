"""Sources: where an entity's descriptor comes from, as a key stored on the entity. Pure functions.

An entity belongs to the source that first produced it (Backstage's rule); the key says
which one and how to show it:

- ``file:/abs/path/catalog-info.yaml``: a file on the portal's server (folder imports, Locations);
- ``upload:team:<namespace>/<group>:<name>``: text a team pasted or uploaded under a name;
- ``upload:user:<username>:<name>``: the same for one person (Platform Admins upload as themselves);
- ``upload:system:<name>``: uploads from code and the operator's command;
- ``upload:<name>``: an upload from before sources were named per team (taken over by the next import
  that lists its entities, like an entity made by hand, whose key is empty);
- ``demo:<name>``: the demo catalog.

Other apps may add kinds of keys (a Git location, say); they are shown as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

TEAM, USER, SYSTEM = "team", "user", "system"
UPLOAD_NAME_MAX = 200


@dataclass(frozen=True)
class Upload:
    scope: str  # team, user or system; "" for a key from before scopes
    owner: str  # the group ref's "namespace/name", the username, or ""
    name: str


def upload_key(*, scope: str, owner: str, name: str) -> str:
    """The key of an upload ``name`` made for a team (``owner`` = ``namespace/name``), a person or the system."""
    name = (name or "").strip()[:UPLOAD_NAME_MAX] or "pasted"
    if scope == SYSTEM:
        return f"upload:{SYSTEM}:{name}"
    return f"upload:{scope}:{owner}:{name}"


def parse_upload(key: str) -> Upload | None:
    """The parts of an upload key, or None when ``key`` is not an upload."""
    if not key.startswith("upload:"):
        return None
    rest = key[len("upload:") :]
    scope, _, tail = rest.partition(":")
    if scope == SYSTEM and tail:
        return Upload(SYSTEM, "", tail)
    if scope in (TEAM, USER) and tail:
        owner, sep, name = tail.partition(":")  # group refs and usernames have no colon
        if sep and owner and name:
            return Upload(scope, owner, name)
    return Upload("", "", rest)


def is_adoptable(key: str) -> bool:
    """Does no source own an entity with this key? (made by hand, or uploaded before sources had scopes)."""
    if not key:
        return True
    upload = parse_upload(key)
    return upload is not None and upload.scope == ""


def team_of_upload(key: str) -> str:
    """The group ref (``group:namespace/name``) an upload key was made for, or ""."""
    upload = parse_upload(key)
    return f"group:{upload.owner}" if upload is not None and upload.scope == TEAM else ""


def label(key: str) -> str:
    """How a person reads a source key."""
    if not key:
        return "made in Bridge (form or API)"
    upload = parse_upload(key)
    if upload is not None:
        if upload.scope == TEAM:
            team = upload.owner[len("default/") :] if upload.owner.startswith("default/") else upload.owner
            return f"{team}'s upload “{upload.name}”"
        if upload.scope == USER:
            return f"{upload.owner}'s upload “{upload.name}”"
        if upload.scope == SYSTEM:
            return f"upload “{upload.name}” (command line or code)"
        return f"upload “{upload.name}” (named before uploads belonged to a team)"
    if key.startswith("file:"):
        return key[len("file:") :]
    if key.startswith("demo:"):
        return f"demo catalog, {key[len('demo:') :]}"
    if key.startswith("location:"):  # a Git location: location:<id>:<path in the repository>
        number, _, path = key[len("location:") :].partition(":")
        return f"Git location {number}, {path}" if number.isdigit() else key
    return key
