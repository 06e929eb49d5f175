"""Role × endpoint matrix: every URL pattern of the portal, for every role, against one small world.

The world (``tests/security/world.py``): ``team-matrix`` with ``developer`` and ``teammate`` in it owns
a component, a knowledge space with pages, a file and an incident, a second space opened for everyone
to edit, and two environment requests the developer made (one awaiting approval, one active); the
developer is linked to a catalog User, and may claim a second, unlinked one; ``stranger``,
``approver`` and ``platform_admin`` are in no team. Every URL pattern from the resolver is requested
with its path parameters filled from that world; a pattern without a row below fails
``test_every_url_pattern_has_a_row``.

The rules the tables spell out:

- everyone signed in reads the catalog, pipelines, knowledge, templates and their own things;
  environment requests are seen by the requester, their team, approvers and Platform Admins (404 else);
- the owning team's members and Platform Admins write (403 for others);
- approvers approve, never their own request; only Platform Admins administer integrations,
  repositories, templates, scorecards, orphans and the audit log;
- anonymous visitors get a redirect to sign in (HTML) or 401 (API); webhook receivers answer 401
  to a delivery without a valid signature, whoever sends it;
- a refused write changes nothing, and a permitted one changes something (checked by comparing the
  apps' tables before and after);
- on the team's Group and on catalog Users other rules hold than on its Component (``KIND_GET`` and
  ``KIND_WRITES``), and in a space opened for everyone to edit anyone signed in edits the pages, but
  only the team and Platform Admins manage the space (``OPEN_GET`` and ``OPEN_WRITES``).

Cells: a status code, ``L`` (302 to a sign-in page), ``R`` (302 back to the page with an error
message, told from ``302`` by that message: refused, nothing changes), ``F`` (200, the form shown
again with the refusal: nothing changes), or ``a|b`` (either). ``DENIED`` cells, and any write
answered with another 4xx, must leave the world as it was; every other cell of a write must change
it, unless it ends in ``=`` (``200=``: permitted, but a no-op here, so nothing changes; each such
cell says why in a comment).
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from tests.security import world as world_module
from tests.security.routes import Route, all_routes

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "developer", "teammate", "stranger", "approver", "platform_admin")
DENIED = {"401", "403", "404", "405", "L", "R", "F"}
SUCCEEDED = {"200", "201", "204", "302"}  # a write answered so must change the world; any other answer must not
STAMPS = {"catalog.CatalogVersion"}  # a new stamp on every catalog write, even one that changes nothing else

# --- GET: what each role sees ---------------------------------------------------------------
#                anonymous developer teammate stranger approver platform_admin
PUBLIC = "200 200 200 200 200 200"
READ = "L 200 200 200 200 200"  # every signed-in user
TEAM = "L 200 200 403 403 200"  # the owning team and Platform Admins
ADMIN = "L 403 403 403 403 200"
APPROVERS = "L 403 403 403 200 200"
REQUEST = "L 200 200 404 200 200"  # requester, their team, approvers, Platform Admins
POST_ONLY = "L 405 405 405 405 405"  # who may POST: see WRITES
NOT_BUILT = "L 404 404 404 404 404"  # docs and sites that were never built
API_READ = "401 200 200 200 200 200"
API_REQUEST = "401 200 200 404 200 200"
API_ADMIN = "401 403 403 403 403 200"
API_OWN = "401 200 404 404 404 404"  # the developer's own token or notification
API_POST_ONLY = "401 405 405 405 405 405"
HOOK = "405 405 405 405 405 405"  # receivers take POSTs only; see WRITES
MOVED = "301 301 301 301 301 301"  # an address from before a move: a permanent redirect, for everyone
API_MOVED = "308 308 308 308 308 308"  # the same for the API: method and body are kept

SCAFFOLD_FORM = {
    "name": "svc-matrix-form",
    "owner": "group:default/team-matrix",
    "destination": "local",
    "p_description": "A new service.",
    "p_system": "matrix",
    "p_lifecycle": "experimental",
    "p_python_version": "3.12",
    "p_port": "8000",
}
SCAFFOLD_API = {
    "template": "python-service",
    "name": "svc-matrix-api",
    "owner": "group:default/team-matrix",
    "destination": "local",
    "parameters": {"description": "A new service."},
}

GET = {
    "": READ,
    "accounts/login/": "200 302 302 302 302 302",  # signed in: on to the home page
    "accounts/logout/": "405 405 405 405 405 405",  # POST only
    # No identity provider in the matrix's settings: the button's address explains that on the sign-in page.
    "accounts/oidc/start/": "L 302 302 302 302 302",  # signed in: on to the home page
    "accounts/oidc/callback/": "L L L L L L",
    "accounts/profile/": READ,
    "accounts/tokens/": POST_ONLY,
    "accounts/tokens/<token_id>/revoke/": POST_ONLY,
    "notifications/": READ,
    "notifications/read-all/": POST_ONLY,
    "notifications/preferences/": READ,
    "notifications/<notification_id>/open/": POST_ONLY,
    "audit/": ADMIN,
    "search/": READ,
    "healthz": PUBLIC,
    "readyz": "200|503 200|503 200|503 200|503 200|503 200|503",
    "metrics": PUBLIC,
    "admin/": "L L L L L 200",  # Django's admin sign-in page refuses everyone but Platform Admins
    "api/schema/": PUBLIC,
    "api/docs/": PUBLIC,
    "api/me/": API_READ,
    "api/": API_READ,
    "api/catalog/": API_READ,
    "api/catalog/entities/by-ref/<kind>:<namespace>/<name>/": API_READ,
    "api/catalog/export/": API_READ,
    "api/catalog/entity-facets/": API_READ,
    "api/catalog/import/": API_POST_ONLY,
    "api/catalog/entities/": API_READ,
    "api/catalog/entities/<pk>/": API_READ,
    "api/catalog/entities/<pk>/relations/": API_READ,
    "api/catalog/locations/": API_READ,
    "api/catalog/locations/<pk>/": API_READ,
    "api/catalog/locations/<pk>/refresh/": API_POST_ONLY,
    "api/catalog/entities/<pk>/conflicts/": API_READ,
    "api/catalog/entities/<pk>/move/": API_POST_ONLY,
    "api/catalog/conflicts/": API_READ,
    "api/provisioning/": API_READ,
    "api/provisioning/templates/": API_READ,
    "api/provisioning/templates/<name>/": API_READ,
    "api/provisioning/requests/": API_READ,  # filtered to what each may see
    "api/provisioning/requests/<pk>/": API_REQUEST,
    "api/provisioning/requests/<pk>/approve/": API_POST_ONLY,
    "api/provisioning/requests/<pk>/cancel/": API_POST_ONLY,
    "api/provisioning/requests/<pk>/reject/": API_POST_ONLY,
    "api/provisioning/requests/<pk>/retry/": API_POST_ONLY,
    "api/provisioning/environments/": API_READ,
    "api/provisioning/environments/<pk>/": API_REQUEST,
    "api/provisioning/environments/<pk>/approve/": API_POST_ONLY,
    "api/provisioning/environments/<pk>/cancel/": API_POST_ONLY,
    "api/provisioning/environments/<pk>/destroy/": API_POST_ONLY,
    "api/provisioning/environments/<pk>/extend/": API_POST_ONLY,
    "api/provisioning/environments/<pk>/reject/": API_POST_ONLY,
    "api/provisioning/environments/<pk>/retry/": API_POST_ONLY,
    "api/provisioning/environments/<pk>/status/": "401 409 409 404 409 409",  # 409: no namespace on a cluster
    "api/provisioning/runs/<pk>/": API_REQUEST,
    "api/provisioning/runs/<pk>/log/": API_REQUEST,
    "api/pipelines/": API_READ,
    "api/pipelines/hooks/github/<public_id>/": HOOK,
    "api/pipelines/hooks/gitlab/<public_id>/": HOOK,
    "api/pipelines/hooks/generic/<public_id>/": HOOK,
    "api/pipelines/metrics/": API_READ,
    "api/pipelines/runs/": API_READ,
    "api/pipelines/runs/<pk>/": API_READ,
    "api/pipelines/deployments/": API_READ,
    "api/pipelines/deployments/<pk>/": API_READ,
    "api/pipelines/incidents/": API_READ,
    "api/pipelines/incidents/<pk>/": API_READ,
    # Connected repositories (history from the providers' APIs): Platform Admins only; the world's repository
    # is not connected, so an admin finds none by that id.
    "api/pipelines/repositories/": API_ADMIN,
    "api/pipelines/repositories/<pk>/": "401 403 403 403 403 404",
    "api/pipelines/repositories/<pk>/sync/": "401 403 403 403 403 405",
    "api/knowledge/": API_READ,
    "api/knowledge/search/": API_READ,
    "api/knowledge/spaces/": API_READ,
    "api/knowledge/spaces/<key>/": API_READ,
    "api/knowledge/pages/": API_READ,
    "api/knowledge/pages/<pk>/": API_READ,
    "api/knowledge/pages/<pk>/diff/": API_READ,
    "api/knowledge/pages/<pk>/revert/": API_POST_ONLY,
    "api/knowledge/pages/<pk>/revisions/": API_READ,
    "api/knowledge/pages/<pk>/revisions/<number>/": API_READ,
    "api/knowledge/incidents/": API_MOVED,  # incidents moved to /api/incidents/
    "api/knowledge/incidents/<pk>/": API_MOVED,
    "api/knowledge/incidents/<pk>/close/": API_MOVED,
    "api/knowledge/incidents/<pk>/steps/": API_MOVED,
    "api/scaffolder/": API_READ,
    "api/scaffolder/templates/": API_READ,
    "api/scaffolder/templates/<name>/": API_READ,
    "api/scaffolder/runs/": API_READ,  # filtered to what each may see
    "api/scaffolder/runs/<pk>/": "401 200 200 404 200 200",  # requester, owning team, approvers, admins
    "api/incidents/": API_READ,
    "api/incidents/<pk>/": API_READ,
    "api/incidents/<pk>/close/": API_POST_ONLY,
    "api/incidents/<pk>/steps/": API_POST_ONLY,
    "api/incidents/alertmanager/": HOOK,
    "api/incidents/<pk>/acknowledge/": API_POST_ONLY,
    "api/incidents/<pk>/assign/": API_POST_ONLY,
    "api/tokens/": API_READ,  # each sees their own
    "api/tokens/<pk>/": API_OWN,
    "api/tokens/<pk>/revoke/": API_POST_ONLY,
    "api/notifications/": API_READ,  # each sees their own
    "api/notifications/read-all/": API_POST_ONLY,
    "api/notifications/<pk>/": API_OWN,
    "api/notifications/<pk>/read/": API_POST_ONLY,
    "api/audit/": API_ADMIN,
    "api/audit/<pk>/": API_ADMIN,
    "catalog/": READ,
    "catalog/export/": READ,
    "catalog/import/": TEAM,  # anyone in a team (for their team's entities) and Platform Admins
    "catalog/new/": TEAM,
    "catalog/orphans/": READ,  # the list "Delete orphans" would delete; only Platform Admins get the button
    "catalog/orphans/delete/": POST_ONLY,
    "catalog/sources/": READ,
    "catalog/sources/one/": READ,  # without ?key=: the entities made in Bridge (form or API)
    "catalog/scorecards/": READ,
    "catalog/locations/": READ,
    "catalog/locations/<pk>/": READ,
    "catalog/locations/<pk>/refresh/": POST_ONLY,
    "catalog/locations/<pk>/remove/": POST_ONLY,
    "catalog/locations/discoveries/<pk>/scan/": POST_ONLY,
    "catalog/scorecards/new/": ADMIN,
    "catalog/scorecards/<pk>/": READ,
    "catalog/scorecards/<pk>/edit/": ADMIN,
    "catalog/scorecards/<pk>/recompute/": POST_ONLY,
    "catalog/scorecards/<pk>/delete/": POST_ONLY,
    "catalog/<kind>/<namespace>/<name>/": READ,
    "catalog/<kind>/<namespace>/<name>/edit/": TEAM,
    "catalog/<kind>/<namespace>/<name>/delete/": POST_ONLY,
    "catalog/<kind>/<namespace>/<name>/export/": READ,
    "catalog/<kind>/<namespace>/<name>/move/": POST_ONLY,
    "catalog/<kind>/<namespace>/<name>/claim/": POST_ONLY,
    "catalog/<kind>/<namespace>/<name>/link/": POST_ONLY,
    "catalog/<kind>/<namespace>/<name>/unlink/": POST_ONLY,
    "catalog/me/": READ,
    "environments/": READ,
    "environments/approvals/": APPROVERS,
    "environments/templates/reload/": POST_ONLY,
    "environments/drifted/": READ,  # filtered to what each may see
    "create/": READ,
    "create/templates/reload/": POST_ONLY,
    "create/templates/<name>/": READ,  # everyone signed in may create from a template
    "create/runs/<pk>/": REQUEST,  # requester, owning team, approvers, Platform Admins
    "create/runs/<pk>/create/": POST_ONLY,
    "create/runs/<pk>/approve/": POST_ONLY,
    "create/runs/<pk>/reject/": POST_ONLY,
    "create/runs/<pk>/retry/": POST_ONLY,
    "create/runs/<pk>/cleanup/": POST_ONLY,
    "environments/new/<name>/": READ,  # everyone signed in may request
    "environments/requests/<pk>/": REQUEST,
    "environments/requests/<pk>/live/": REQUEST,
    "environments/requests/<pk>/log/": REQUEST,
    "environments/requests/<pk>/status/": REQUEST,
    "environments/requests/<pk>/cancel/": POST_ONLY,
    "environments/requests/<pk>/retry/": POST_ONLY,
    "environments/requests/<pk>/approve/": POST_ONLY,
    "environments/requests/<pk>/reject/": POST_ONLY,
    "environments/requests/<pk>/extend/": POST_ONLY,
    "environments/requests/<pk>/destroy/": POST_ONLY,
    "environments/requests/<pk>/drift/": POST_ONLY,
    "environments/requests/<pk>/reapply/": POST_ONLY,
    "environments/requests/<pk>/release-lock/": POST_ONLY,
    "pipelines/": READ,
    "pipelines/runs/<run_id>/": READ,
    "pipelines/entity/<kind>/<namespace>/<name>/": READ,
    "pipelines/entity/<kind>/<namespace>/<name>/dora/": READ,
    "pipelines/team/<namespace>/<name>/": READ,
    "pipelines/team/<namespace>/<name>/dora/": READ,
    "pipelines/integrations/": ADMIN,
    "pipelines/integrations/new/": POST_ONLY,
    "pipelines/integrations/<integration_id>/": ADMIN,
    "pipelines/integrations/<integration_id>/scope/": POST_ONLY,
    "pipelines/integrations/<integration_id>/secret/": POST_ONLY,
    "pipelines/integrations/<integration_id>/rotate/": POST_ONLY,
    "pipelines/integrations/<integration_id>/delete/": POST_ONLY,
    "pipelines/repositories/<repository_id>/link/": POST_ONLY,
    "pipelines/repositories/rematch/": POST_ONLY,
    "pipelines/repositories/connect/": POST_ONLY,
    "pipelines/repositories/<repository_id>/sync/": POST_ONLY,
    "pipelines/repositories/<repository_id>/disconnect/": POST_ONLY,
    "knowledge/": READ,
    "knowledge/search/": READ,
    "knowledge/spaces/new/": READ,  # the form; who may create for which team: see WRITES
    "knowledge/preview/": POST_ONLY,
    "incidents/": READ,
    "incidents/alerts/unrouted/": ADMIN,
    "incidents/runbooks/<key>/<slug>/start/": POST_ONLY,
    "incidents/<incident_id>/": READ,
    "incidents/<incident_id>/steps/": READ,  # the steps, polled while the incident is open
    "incidents/<incident_id>/steps/<number>/": POST_ONLY,
    "incidents/<incident_id>/close/": POST_ONLY,
    "incidents/<incident_id>/acknowledge/": POST_ONLY,
    "incidents/<incident_id>/assign/": POST_ONLY,
    "incidents/<incident_id>/notes/": POST_ONLY,
    # Incidents were part of the knowledge base until they got their own app: the old addresses redirect.
    "knowledge/incidents/": MOVED,
    "knowledge/incidents/<incident_id>/": MOVED,
    "knowledge/incidents/<incident_id>/steps/": MOVED,
    "knowledge/incidents/<incident_id>/steps/<number>/": MOVED,
    "knowledge/incidents/<incident_id>/close/": MOVED,
    "knowledge/s/<key>/p/<slug>/incidents/start/": MOVED,
    "knowledge/template/": READ,  # a kind's starting text, for the new-page editor
    "knowledge/docs/<entity_id>/": NOT_BUILT,
    "knowledge/docs/<entity_id>/<path>": NOT_BUILT,
    "knowledge/docs/<entity_id>/build/": POST_ONLY,
    "knowledge/s/<key>/": READ,
    "knowledge/s/<key>/settings/": TEAM,
    "knowledge/s/<key>/new/": TEAM,
    "knowledge/s/<key>/export.zip": READ,
    "knowledge/s/<key>/import/": TEAM,
    "knowledge/s/<key>/build/": POST_ONLY,
    "knowledge/icons/<name>": PUBLIC,  # mkdocs-material's icon sets, shown in pages
    "knowledge/site/<token>/": "404 404 404 404 404 404",  # a signed link, no session: the site is not built
    "knowledge/site/<token>/<path>": "404 404 404 404 404 404",
    "knowledge/s/<key>/site/": NOT_BUILT,
    "knowledge/s/<key>/site/<path>": NOT_BUILT,
    "knowledge/s/<key>/p/<slug>/": READ,
    "knowledge/s/<key>/p/<slug>/edit/": TEAM,
    "knowledge/s/<key>/p/<slug>/history/": READ,
    "knowledge/s/<key>/p/<slug>/diff/": READ,
    "knowledge/s/<key>/p/<slug>/revisions/<number>/": READ,
    "knowledge/s/<key>/p/<slug>/revert/<number>/": POST_ONLY,
    "knowledge/s/<key>/p/<slug>/delete/": POST_ONLY,
    "knowledge/s/<key>/p/<slug>/files/": POST_ONLY,
    "knowledge/s/<key>/p/<slug>/files/<name>": READ,
    "knowledge/s/<key>/p/<slug>/files/<name>/delete/": POST_ONLY,
}

# Query strings some reads need to answer with data rather than "which one?".
QUERY = {
    "api/pipelines/metrics/": "?entity=component:default/svc-matrix",
    "api/knowledge/pages/<pk>/diff/": "?a=1&b=2",
    "knowledge/s/<key>/p/<slug>/diff/": "?a=1&b=2",
}

# --- writes: (method, body, expected) per route ----------------------------------------------
#                anonymous developer teammate stranger approver platform_admin
TEAM_WRITE = "L 302 302 403 403 302"
ADMIN_WRITE = "L 403 403 403 403 302"
SELF = "L 302 302 302 302 302"  # on one's own things: everyone signed in
API_TEAM_WRITE = "401 200 200 403 403 200"

COMPONENT = {
    "apiVersion": "backstage.io/v1alpha1",
    "kind": "Component",
    "metadata": {"name": "svc-matrix", "description": "Changed by the matrix"},
    "spec": {"type": "service", "lifecycle": "production", "owner": "team-matrix"},
}
NEW_COMPONENT = {**COMPONENT, "metadata": {"name": "svc-matrix-two"}}
ENTITY_FORM = {
    "kind": "Component",
    "namespace": "default",
    "name": "svc-matrix",
    "description": "Changed by the matrix",
    "type": "service",
    "lifecycle": "production",
    "owner": "team-matrix",
}


MOVE_TO = "upload:system:matrix-gone"  # a source of the world (it lists svc-kept)


def _orphans_digest() -> str:
    from catalog import services

    return services.orphans_digest()


def _file():
    return SimpleUploadedFile("more.txt", b"more notes\n", content_type="text/plain")


WRITES: dict[str, list[tuple]] = {
    "accounts/tokens/": [("post", lambda w: {"name": "second"}, "L 200 200 200 200 200")],  # shows the key once
    "accounts/tokens/<token_id>/revoke/": [("post", None, "L 302 R R R R")],  # the developer's token
    "notifications/read-all/": [("post", None, "L 302 302 302= 302 302")],  # the stranger has none
    "notifications/preferences/": [("post", None, SELF)],
    # The developer's; anyone else's open is a no-op that goes on to their own list.
    "notifications/<notification_id>/open/": [("post", None, "L 302 302= 302= 302= 302=")],
    "catalog/import/": [("post", lambda w: {"text": json.dumps(COMPONENT), "name": "matrix"}, "L 200 200 403 403 200")],
    "catalog/new/": [("post", lambda w: {**ENTITY_FORM, "name": "svc-matrix-two"}, TEAM_WRITE)],
    # Deletes the orphans the person reviewed (the list's digest); without it: refused, nothing deleted.
    "catalog/orphans/delete/": [("post", lambda w: {"reviewed": _orphans_digest()}, ADMIN_WRITE)],
    "catalog/<kind>/<namespace>/<name>/move/": [("post", lambda w: {"source": MOVE_TO}, ADMIN_WRITE)],
    "catalog/scorecards/new/": [("post", lambda w: {"name": "Another", "rules": "bronze: has_owner"}, ADMIN_WRITE)],
    "catalog/scorecards/<pk>/edit/": [
        ("post", lambda w: {"name": "Renamed", "rules": "bronze: has_owner"}, ADMIN_WRITE)
    ],
    "catalog/scorecards/<pk>/recompute/": [("post", None, ADMIN_WRITE)],
    "catalog/scorecards/<pk>/delete/": [("post", None, ADMIN_WRITE)],
    # Registering: Platform Admins only; github.com has no integration in the matrix, so the form
    # comes back with that reason and nothing is stored.
    "catalog/locations/": [
        (
            "post",
            lambda w: {"add-location": "1", "url": "https://github.com/acme/x/blob/main/c.yaml"},
            "L 403 403 403 403 F",
        ),
        ("post", lambda w: {"add-discovery": "1", "host": "github.com", "owner": "acme2"}, "L 403 403 403 403 F"),
    ],
    # Reading again: anyone in a team and Platform Admins (the failed read is recorded on the location).
    "catalog/locations/<pk>/refresh/": [("post", None, "L 302 302 403 403 302")],
    "catalog/locations/<pk>/remove/": [("post", None, ADMIN_WRITE)],
    "catalog/locations/discoveries/<pk>/scan/": [("post", None, ADMIN_WRITE)],
    "catalog/<kind>/<namespace>/<name>/edit/": [("post", lambda w: ENTITY_FORM, TEAM_WRITE)],
    "catalog/<kind>/<namespace>/<name>/delete/": [("post", None, TEAM_WRITE)],
    # The matrix's entity is a Component: nobody claims or unlinks it; a Platform Admin's link is
    # refused with a message (only Users link), other roles are refused outright. Users: KIND_WRITES.
    "catalog/<kind>/<namespace>/<name>/claim/": [("post", None, "L 403 403 403 403 403")],
    "catalog/<kind>/<namespace>/<name>/link/": [("post", lambda w: {"username": "dev"}, "L 403 403 403 403 R")],
    "catalog/<kind>/<namespace>/<name>/unlink/": [("post", None, "L 403 403 403 403 403")],
    "environments/templates/reload/": [("post", None, ADMIN_WRITE)],
    "create/templates/reload/": [("post", None, "L 403 403 403 403 302")],
    # A new preview (a draft run) for the team: its members and Platform Admins; others own no team (F).
    "create/templates/<name>/": [("post", lambda w: SCAFFOLD_FORM, "L 302 302 F F 302")],
    # On the developer's preview: only they create from it; nothing there to approve, reject, retry or clean up.
    "create/runs/<pk>/create/": [("post", None, "L 302 R 404 R R")],
    "create/runs/<pk>/approve/": [("post", None, "L R R 404 R R")],
    "create/runs/<pk>/reject/": [("post", lambda w: {"comment": "No."}, "L R R 404 R R")],
    "create/runs/<pk>/retry/": [("post", None, "L R R 404 R R")],
    "create/runs/<pk>/cleanup/": [("post", None, "L R R 404 R R")],
    # The request form: anyone signed in may submit (this body is incomplete, so it is shown again).
    "environments/new/<name>/": [("post", None, "L 400 400 400 400 400")],
    # On the request awaiting approval that the developer made for the team:
    "environments/requests/<pk>/cancel/": [("post", None, "L 302 302 404 R 302")],
    "environments/requests/<pk>/retry/": [("post", None, "L R R 404 R R")],  # nothing to retry yet
    "environments/requests/<pk>/approve/": [("post", None, "L R R 404 302 302")],
    "environments/requests/<pk>/reject/": [("post", lambda w: {"comment": "No."}, "L R R 404 302 302")],
    # On the active environment:
    "environments/requests/<pk>/extend/": [("post", lambda w: {"hours": "1"}, "L 302 302 404 R 302")],
    "environments/requests/<pk>/destroy/": [("post", lambda w: {"confirm": w.active.name}, "L 302 302 404 R 302")],
    # The team, approvers and Platform Admins queue a drift check: a task and an audit event, no row.
    "environments/requests/<pk>/drift/": [("post", None, "L 302= 302= 404 302= 302=")],
    # The team and Platform Admins re-apply the template: a new plan run.
    "environments/requests/<pk>/reapply/": [("post", None, "L 302 302 404 R 302")],
    # Only Platform Admins release a state lock, and there is none to release.
    "environments/requests/<pk>/release-lock/": [
        ("post", lambda w: {"lock_id": "none", "confirm": "yes"}, "L R R 404 R R")
    ],
    "pipelines/integrations/new/": [
        (
            "post",
            lambda w: {"provider": "github", "name": "Another", "repositories": "acme/*", "secret_source": "generate"},
            "L 403 403 403 403 200",  # shows the secret once
        )
    ],
    "pipelines/integrations/<integration_id>/rotate/": [("post", None, "L 403 403 403 403 200")],
    "pipelines/integrations/<integration_id>/scope/": [
        ("post", lambda w: {"repositories": "acme/svc-matrix"}, ADMIN_WRITE)
    ],
    "pipelines/integrations/<integration_id>/secret/": [("post", lambda w: {"secret": "an-org-secret-1"}, ADMIN_WRITE)],
    "pipelines/integrations/<integration_id>/delete/": [("post", None, ADMIN_WRITE)],
    "pipelines/repositories/<repository_id>/link/": [
        ("post", lambda w: {"entity": "component:default/svc-matrix"}, ADMIN_WRITE)
    ],
    "pipelines/repositories/rematch/": [("post", None, "L 403 403 403 403 302=")],  # all matched already
    # A host without a Git integration: the form comes back with the reason (400), nothing connected.
    "pipelines/repositories/connect/": [
        ("post", lambda w: {"url": "https://nowhere.example/acme/x", "days": "30"}, "L 403 403 403 403 400")
    ],
    "pipelines/repositories/<repository_id>/sync/": [("post", None, "L 403 403 403 403 R")],  # not connected
    "pipelines/repositories/<repository_id>/disconnect/": [("post", None, "L 403 403 403 403 R")],  # not connected
    "knowledge/spaces/new/": [
        ("post", lambda w: {"key": "matrix-two", "name": "Two", "owner": w.team.pk}, "L 302 302 F F 302")
    ],
    "knowledge/preview/": [("post", lambda w: {"body": "# Preview"}, "L 200= 200= 200= 200= 200=")],  # saves nothing
    # Whoever started the incident, the runbook's editors and Platform Admins work through it.
    "incidents/<incident_id>/steps/<number>/": [("post", lambda w: {"done": "on"}, "L 302 302 403 403 302")],
    "incidents/<incident_id>/close/": [("post", lambda w: {"outcome": "resolved"}, "L 302 302 R R 302")],
    # A form posted to an address from before the move is sent on (308), and changes nothing itself.
    "knowledge/incidents/<incident_id>/steps/<number>/": [("post", lambda w: {"done": "on"}, "308 " * 5 + "308")],
    "knowledge/incidents/<incident_id>/close/": [("post", lambda w: {"outcome": "resolved"}, "308 " * 5 + "308")],
    "knowledge/s/<key>/p/<slug>/incidents/start/": [("post", lambda w: {"severity": "sev3"}, "308 " * 5 + "308")],
    "knowledge/docs/<entity_id>/build/": [("post", None, TEAM_WRITE)],
    "knowledge/s/<key>/settings/": [
        ("post", lambda w: {"key": w.space.key, "name": "Renamed", "owner": w.team.pk}, TEAM_WRITE)
    ],
    "knowledge/s/<key>/new/": [("post", lambda w: {"title": "Another", "kind": "article", "body": "x"}, TEAM_WRITE)],
    "knowledge/s/<key>/import/": [("post", None, "L 200= 200= 403 403 200=")],  # no archive sent: the form again
    "knowledge/s/<key>/build/": [("post", None, TEAM_WRITE)],
    "knowledge/s/<key>/p/<slug>/edit/": [
        (
            "post",
            lambda w: {
                "title": "Edited",
                "kind": "article",
                "body": "Three.",
                "base_revision": w.page.current_revision_id,
            },
            TEAM_WRITE,
        )
    ],
    "knowledge/s/<key>/p/<slug>/revert/<number>/": [("post", None, TEAM_WRITE)],
    "knowledge/s/<key>/p/<slug>/delete/": [("post", None, TEAM_WRITE)],
    "knowledge/s/<key>/p/<slug>/files/": [("post", lambda w: {"file": _file()}, TEAM_WRITE)],
    "knowledge/s/<key>/p/<slug>/files/<name>/delete/": [("post", None, TEAM_WRITE)],
    # An incident pages the team and counts in its DORA figures: the owning team (the runbook's team
    # without a service), Approvers and Platform Admins start one; others are refused with the reason.
    "incidents/runbooks/<key>/<slug>/start/": [
        ("post", lambda w: {"severity": "sev3"}, "L 302 302 R 302 302"),
        ("post", lambda w: {"severity": "sev1", "entity": w.entity.pk}, "L 302 302 R 302 302"),
    ],
    # API
    "api/catalog/import/": [("post", lambda w: {"yaml": json.dumps(COMPONENT)}, "401 200 200 403 403 200")],
    "api/catalog/entities/": [("post", lambda w: NEW_COMPONENT, "401 201 201 403 403 201")],
    # github.com has no integration here: a Platform Admin is told so (400), others are refused.
    "api/catalog/locations/": [
        ("post", lambda w: {"url": "https://github.com/acme/x/blob/main/c.yaml"}, "401 403 403 403 403 400")
    ],
    "api/catalog/locations/<pk>/": [("delete", None, "401 403 403 403 403 204")],
    "api/catalog/locations/<pk>/refresh/": [("post", None, "401 200 200 403 403 200")],
    "api/catalog/entities/<pk>/move/": [("post", lambda w: {"source": MOVE_TO}, "401 403 403 403 403 200")],
    "api/catalog/entities/<pk>/": [
        ("put", lambda w: COMPONENT, API_TEAM_WRITE),
        ("patch", lambda w: COMPONENT, "401 405 405 405 405 405"),  # PUT a whole descriptor
        ("delete", None, "401 204 204 403 403 204"),
    ],
    "api/provisioning/requests/": [
        (
            "post",
            lambda w: {
                "template": w.template.name,
                "name": "matrix-api",
                "justification": "Matrix.",
                "parameters": {"n": 1, "k": 1},
            },
            "401 201 201 201 201 201",
        )
    ],
    "api/provisioning/requests/<pk>/approve/": [("post", None, "401 403 403 404 200 200")],
    "api/provisioning/requests/<pk>/reject/": [("post", lambda w: {"comment": "No."}, "401 403 403 404 200 200")],
    "api/provisioning/requests/<pk>/cancel/": [("post", None, "401 200 200 404 403 200")],
    "api/provisioning/requests/<pk>/retry/": [("post", None, "401 400 400 404 403 400")],  # nothing to retry
    "api/provisioning/environments/<pk>/destroy/": [
        ("post", lambda w: {"confirm": w.active.name}, "401 200 200 404 403 200")
    ],
    "api/provisioning/environments/<pk>/extend/": [("post", lambda w: {"hours": 1}, "401 200 200 404 403 200")],
    "api/provisioning/environments/<pk>/approve/": [("post", None, "401 403 403 404 400 400")],  # active already
    "api/provisioning/environments/<pk>/reject/": [("post", lambda w: {"comment": "No."}, "401 403 403 404 400 400")],
    "api/provisioning/environments/<pk>/cancel/": [("post", None, "401 400 400 404 403 400")],
    "api/provisioning/environments/<pk>/retry/": [("post", None, "401 400 400 404 403 400")],
    # No signature, no token: refused whoever sends it.
    # Alertmanager proves itself with its receiver's token, never with a session.
    "api/incidents/alertmanager/": [("post", lambda w: {"version": "4", "alerts": []}, "401 401 401 401 401 401")],
    # The service's team and Platform Admins respond to its incident (not Approvers, not strangers).
    "api/incidents/<pk>/acknowledge/": [("post", None, "401 200 200 403 403 200")],
    "api/incidents/<pk>/assign/": [("post", lambda w: {"assignee": "teammate"}, "401 200 200 403 403 200")],
    "incidents/<incident_id>/acknowledge/": [("post", None, "L 302 302 R R 302")],
    "incidents/<incident_id>/assign/": [("post", lambda w: {"assignee": w.users["teammate"].pk}, "L 302 302 R R 302")],
    "incidents/<incident_id>/notes/": [("post", lambda w: {"text": "rolled back"}, "L 302 302 R R 302")],
    "api/pipelines/hooks/github/<public_id>/": [("post", lambda w: {"action": "completed"}, "401 401 401 401 401 401")],
    "api/pipelines/hooks/gitlab/<public_id>/": [("post", lambda w: {"object_kind": "x"}, "401 401 401 401 401 401")],
    "api/pipelines/hooks/generic/<public_id>/": [("post", lambda w: {"run_id": "x"}, "401 401 401 401 401 401")],
    "api/pipelines/incidents/": [
        (
            "post",
            lambda w: {
                "source": "pager",
                "incident_id": "INC-2",
                "title": "Another",
                "started_at": "2026-01-01T00:00:00Z",
            },
            "401 403 403 403 403 201",
        )
    ],
    "api/pipelines/repositories/": [
        ("post", lambda w: {"url": "https://nowhere.example/acme/x"}, "401 403 403 403 403 400")  # no integration
    ],
    "api/pipelines/repositories/<pk>/sync/": [("post", None, "401 403 403 403 403 404")],  # not connected
    "api/knowledge/spaces/": [
        ("post", lambda w: {"key": "matrix-two", "name": "Two", "owner_id": w.team.pk}, "401 201 201 403 403 201")
    ],
    "api/knowledge/spaces/<key>/": [
        ("patch", lambda w: {"name": "Renamed"}, API_TEAM_WRITE),
        ("delete", None, "401 405 405 405 405 405"),
    ],
    "api/knowledge/pages/": [
        ("post", lambda w: {"space": w.space.key, "title": "Another", "body": "x"}, "401 201 201 403 403 201")
    ],
    "api/knowledge/pages/<pk>/": [
        (
            "patch",
            lambda w: {"title": "Edited", "body": "Three.", "base_revision": w.page.current_revision_id},
            API_TEAM_WRITE,
        ),
        ("delete", None, "401 204 204 403 403 204"),
    ],
    "api/knowledge/pages/<pk>/revert/": [("post", lambda w: {"revision": 1}, "401 201 201 403 403 201")],
    "api/incidents/": [
        ("post", lambda w: {"runbook": w.runbook.pk, "severity": "sev3"}, "401 201 201 403 201 201"),
        (
            "post",
            lambda w: {"runbook": w.runbook.pk, "entity": w.entity.pk, "severity": "sev1"},
            "401 201 201 403 201 201",
        ),
    ],
    "api/incidents/<pk>/close/": [("post", lambda w: {"outcome": "resolved"}, API_TEAM_WRITE)],
    "api/incidents/<pk>/steps/": [("post", lambda w: {"number": 1, "done": True}, API_TEAM_WRITE)],
    # An API client still using the old address is sent on with its method and body, and nothing changes here.
    "api/knowledge/incidents/": [("post", lambda w: {"runbook": w.runbook.pk, "severity": "sev3"}, API_MOVED)],
    "api/knowledge/incidents/<pk>/close/": [("post", lambda w: {"outcome": "resolved"}, API_MOVED)],
    "api/knowledge/incidents/<pk>/steps/": [("post", lambda w: {"number": 1, "done": True}, API_MOVED)],
    "api/tokens/": [("post", lambda w: {"name": "api"}, "401 201 201 201 201 201")],
    "api/scaffolder/runs/": [("post", lambda w: SCAFFOLD_API, "401 201 201 400 400 201")],
    "api/tokens/<pk>/revoke/": [("post", None, "401 200 404 404 404 404")],
    "api/notifications/read-all/": [("post", None, "401 200 200 200= 200 200")],  # the stranger has none
    "api/notifications/<pk>/read/": [("post", None, "401 200 404 404 404 404")],
    "api/audit/": [("post", None, "401 403 403 403 403 405")],
    "api/audit/<pk>/": [("delete", None, "401 403 403 403 403 405")],
}

# --- Groups and Users: the entity routes again, on other kinds of entity ------------------------
# The rows above use the team's Component. Other rules hold (catalog/permissions.py) on
#   group:    team-matrix, whose members are the developer and the teammate: its members edit it;
#   user:     user:default/dev, linked to the developer: that person edits it;
#   unlinked: user:default/dev-two, linked to nobody, spec.profile.email the developer's: nobody but
#             Platform Admins edits it, the developer may claim it ("this is me").
# Only Platform Admins delete Groups and Users. Claim: an unlinked User with one's own email; link:
# Platform Admins, on Users only (on a Group: refused with a message); unlink: the linked person and
# Platform Admins.
ENTITY_KINDS = {"group": lambda w: w.team, "user": lambda w: w.user_entity, "unlinked": lambda w: w.unlinked_user}
PERSON = "L 200 403 403 403 200"  # the linked person and Platform Admins
PERSON_WRITE = "L 302 403 403 403 302"
NOBODY = "L 403 403 403 403 403"
API_PERSON_WRITE = "401 200 403 403 403 200"
API_ADMIN_WRITE = "401 403 403 403 403 200"
API_ADMIN_DELETE = "401 403 403 403 403 204"
API_NO_PATCH = "401 405 405 405 405 405"  # PUT a whole descriptor

KIND_GET = {
    #                                                          group     user      unlinked
    "api/catalog/entities/by-ref/<kind>:<namespace>/<name>/": (API_READ, API_READ, API_READ),
    "api/catalog/entities/<pk>/": (API_READ, API_READ, API_READ),
    "api/catalog/entities/<pk>/relations/": (API_READ, API_READ, API_READ),
    "api/catalog/entities/<pk>/conflicts/": (API_READ, API_READ, API_READ),
    "api/catalog/entities/<pk>/move/": (API_POST_ONLY, API_POST_ONLY, API_POST_ONLY),
    "catalog/<kind>/<namespace>/<name>/": (READ, READ, READ),
    "catalog/<kind>/<namespace>/<name>/move/": (POST_ONLY, POST_ONLY, POST_ONLY),
    "catalog/<kind>/<namespace>/<name>/edit/": (TEAM, PERSON, ADMIN),
    "catalog/<kind>/<namespace>/<name>/delete/": (POST_ONLY, POST_ONLY, POST_ONLY),
    "catalog/<kind>/<namespace>/<name>/export/": (READ, READ, READ),
    "catalog/<kind>/<namespace>/<name>/claim/": (POST_ONLY, POST_ONLY, POST_ONLY),
    "catalog/<kind>/<namespace>/<name>/link/": (POST_ONLY, POST_ONLY, POST_ONLY),
    "catalog/<kind>/<namespace>/<name>/unlink/": (POST_ONLY, POST_ONLY, POST_ONLY),
    "pipelines/entity/<kind>/<namespace>/<name>/": (READ, READ, READ),
    "pipelines/entity/<kind>/<namespace>/<name>/dora/": (READ, READ, READ),
}


def _entity_form(e) -> dict:
    """The edit form as the page fills it, with a new title."""
    return {
        "kind": e.kind,
        "namespace": e.namespace,
        "name": e.name,
        "title": "Edited by the matrix",
        "type": e.spec.get("type", ""),
    }


def _descriptor(e) -> dict:
    """The entity's descriptor with a new title, for a PUT."""
    metadata = {"name": e.name, "namespace": e.namespace, "title": "Edited by the matrix"}
    return {"apiVersion": "backstage.io/v1alpha1", "kind": e.kind, "metadata": metadata, "spec": e.spec}


# The bodies are functions of the column's entity.
KIND_WRITES = {
    #                                                                   group         user          unlinked
    "catalog/<kind>/<namespace>/<name>/edit/": [("post", _entity_form, (TEAM_WRITE, PERSON_WRITE, ADMIN_WRITE))],
    "catalog/<kind>/<namespace>/<name>/delete/": [("post", None, (ADMIN_WRITE, ADMIN_WRITE, ADMIN_WRITE))],
    "catalog/<kind>/<namespace>/<name>/claim/": [("post", None, (NOBODY, NOBODY, "L 302 403 403 403 403"))],
    "catalog/<kind>/<namespace>/<name>/link/": [
        ("post", lambda e: {"username": "stranger"}, ("L 403 403 403 403 R", ADMIN_WRITE, ADMIN_WRITE))
    ],
    "catalog/<kind>/<namespace>/<name>/unlink/": [("post", None, (NOBODY, PERSON_WRITE, NOBODY))],
    "catalog/<kind>/<namespace>/<name>/move/": [
        ("post", lambda e: {"source": MOVE_TO}, (ADMIN_WRITE, ADMIN_WRITE, ADMIN_WRITE))
    ],
    "api/catalog/entities/<pk>/move/": [
        ("post", lambda e: {"source": MOVE_TO}, (API_ADMIN_WRITE, API_ADMIN_WRITE, API_ADMIN_WRITE))
    ],
    "api/catalog/entities/<pk>/": [
        ("put", _descriptor, (API_TEAM_WRITE, API_PERSON_WRITE, API_ADMIN_WRITE)),
        ("patch", _descriptor, (API_NO_PATCH, API_NO_PATCH, API_NO_PATCH)),
        ("delete", None, (API_ADMIN_DELETE, API_ADMIN_DELETE, API_ADMIN_DELETE)),
    ],
}


def _kind_tables(w, column: str) -> tuple[dict, dict, dict]:
    """(GET rows, WRITES rows, path parameters) of one column of KIND_GET and KIND_WRITES."""
    e = ENTITY_KINDS[column](w)
    i = list(ENTITY_KINDS).index(column)
    gets = {key: cells[i] for key, cells in KIND_GET.items()}
    writes = {
        key: [(method, body and (lambda _w, body=body: body(e)), cells[i]) for method, body, cells in rows]
        for key, rows in KIND_WRITES.items()
    }
    return gets, writes, {"kind": e.kind.lower(), "namespace": e.namespace, "name": e.name, "pk": e.pk}


# --- a space opened for everyone to edit (Space.open_for_edit) ------------------------------------
# ``matrix-open`` is the team's, opened: anyone signed in edits, adds, reverts and deletes its pages
# and files; its settings, import and build stay with the team and Platform Admins.
ANYONE_WRITE = "L 302 302 302 302 302"
API_ANYONE = "401 200 200 200 200 200"

OPEN_GET = {
    "knowledge/s/<key>/": READ,
    "knowledge/s/<key>/settings/": TEAM,
    "knowledge/s/<key>/new/": READ,
    "knowledge/s/<key>/import/": TEAM,
    "knowledge/s/<key>/p/<slug>/": READ,
    "knowledge/s/<key>/p/<slug>/edit/": READ,
    "knowledge/s/<key>/p/<slug>/history/": READ,
    "knowledge/s/<key>/p/<slug>/files/<name>": READ,
    "api/knowledge/spaces/<key>/": API_READ,
    "api/knowledge/pages/<pk>/": API_READ,
}

OPEN_WRITES = {
    "knowledge/s/<key>/settings/": [
        (
            "post",
            lambda w: {"key": w.open_space.key, "name": "Renamed", "owner": w.team.pk, "open_for_edit": "on"},
            TEAM_WRITE,
        )
    ],
    "knowledge/s/<key>/new/": [("post", lambda w: {"title": "Another", "kind": "article", "body": "x"}, ANYONE_WRITE)],
    "knowledge/s/<key>/import/": [("post", None, "L 200= 200= 403 403 200=")],  # no archive sent: the form again
    "knowledge/s/<key>/build/": [("post", None, TEAM_WRITE)],
    "knowledge/s/<key>/p/<slug>/edit/": [
        (
            "post",
            lambda w: {
                "title": "Edited",
                "kind": "article",
                "body": "Three.",
                "base_revision": w.open_page.current_revision_id,
            },
            ANYONE_WRITE,
        )
    ],
    "knowledge/s/<key>/p/<slug>/revert/<number>/": [("post", None, ANYONE_WRITE)],
    "knowledge/s/<key>/p/<slug>/delete/": [("post", None, ANYONE_WRITE)],
    "knowledge/s/<key>/p/<slug>/files/": [("post", lambda w: {"file": _file()}, ANYONE_WRITE)],
    "knowledge/s/<key>/p/<slug>/files/<name>/delete/": [("post", None, ANYONE_WRITE)],
    "api/knowledge/spaces/<key>/": [("patch", lambda w: {"name": "Renamed"}, API_TEAM_WRITE)],
    "api/knowledge/pages/": [
        ("post", lambda w: {"space": w.open_space.key, "title": "Another", "body": "x"}, "401 201 201 201 201 201")
    ],
    "api/knowledge/pages/<pk>/": [
        (
            "patch",
            lambda w: {"title": "Edited", "body": "Three.", "base_revision": w.open_page.current_revision_id},
            API_ANYONE,
        ),
        ("delete", None, "401 204 204 204 204 204"),
    ],
    "api/knowledge/pages/<pk>/revert/": [("post", lambda w: {"revision": 1}, "401 201 201 201 201 201")],
}


def _open_params(w) -> dict:
    return {"key": w.open_space.key, "slug": w.open_page.slug, "pk": w.open_page.pk}


ROUTES = all_routes()


def _param_values(w) -> list[tuple[str, dict]]:
    """(route prefix, {parameter: value}); the first prefix the route starts with wins."""
    entity = {"kind": "component", "namespace": "default", "name": "svc-matrix"}
    page = {"key": w.space.key, "slug": w.page.slug}
    return [
        ("accounts/tokens/", {"token_id": w.token.pk}),
        ("notifications/", {"notification_id": w.notification.pk}),
        ("api/catalog/entities/by-ref/", entity),
        ("api/catalog/entities/", {"pk": w.entity.pk}),
        ("api/provisioning/templates/", {"name": w.template.name}),
        ("api/provisioning/requests/", {"pk": w.pending.pk}),
        ("api/provisioning/environments/", {"pk": w.active.pk}),
        ("api/provisioning/runs/", {"pk": w.run.pk}),
        ("api/pipelines/hooks/github/", {"public_id": w.integrations["github"].public_id}),
        ("api/pipelines/hooks/gitlab/", {"public_id": w.integrations["gitlab"].public_id}),
        ("api/pipelines/hooks/generic/", {"public_id": w.integrations["generic"].public_id}),
        ("api/pipelines/runs/", {"pk": w.pipeline_run.pk}),
        ("api/pipelines/deployments/", {"pk": w.deployment.pk}),
        ("api/pipelines/incidents/", {"pk": w.pipeline_incident.pk}),
        ("api/pipelines/repositories/", {"pk": w.repository.pk}),
        ("api/knowledge/spaces/", {"key": w.space.key}),
        ("api/knowledge/pages/", {"pk": w.page.pk, "number": 1}),
        ("api/knowledge/incidents/", {"pk": w.incident.pk}),
        ("api/incidents/", {"pk": w.incident.pk}),
        ("incidents/runbooks/", {"key": w.space.key, "slug": w.runbook.slug}),
        ("incidents/", {"incident_id": w.incident.pk, "number": 1}),
        ("api/tokens/", {"pk": w.token.pk}),
        ("api/notifications/", {"pk": w.notification.pk}),
        ("api/audit/", {"pk": w.audit_event.pk}),
        ("catalog/scorecards/", {"pk": w.scorecard.pk}),
        ("catalog/locations/discoveries/", {"pk": w.discovery.pk}),
        ("catalog/locations/", {"pk": w.location.pk}),
        ("api/catalog/locations/", {"pk": w.location.pk}),
        ("catalog/", entity),
        ("environments/new/", {"name": w.template.name}),
        ("create/templates/", {"name": w.software_template.name}),
        ("create/runs/", {"pk": w.scaffolder_run.pk}),
        ("api/scaffolder/templates/", {"name": w.software_template.name}),
        ("api/scaffolder/runs/", {"pk": w.scaffolder_run.pk}),
        *[
            (f"environments/requests/<pk>/{action}/", {"pk": w.active.pk})
            for action in ("extend", "destroy", "status", "drift", "reapply", "release-lock")
        ],
        ("environments/requests/", {"pk": w.pending.pk}),
        ("pipelines/runs/", {"run_id": w.pipeline_run.pk}),
        ("pipelines/entity/", entity),
        ("pipelines/team/", {"namespace": "default", "name": "team-matrix"}),
        ("pipelines/integrations/", {"integration_id": w.integration.pk}),
        ("pipelines/repositories/", {"repository_id": w.repository.pk}),
        ("knowledge/incidents/", {"incident_id": w.incident.pk, "number": 1}),
        ("knowledge/docs/", {"entity_id": w.entity.pk, "path": "index.html"}),
        ("knowledge/site/", {"token": _site_token(w), "path": "index.html"}),
        ("knowledge/icons/", {"name": "material/check.svg"}),
        ("knowledge/s/<key>/p/<slug>/files/", {**page, "name": w.attachment.name}),
        ("knowledge/s/<key>/p/<slug>/incidents/", {"key": w.space.key, "slug": w.runbook.slug}),
        ("knowledge/s/", {**page, "number": 1, "path": "index.html"}),
    ]


def _site_token(w) -> str:
    from knowledge.services import built_site_token

    return built_site_token(space=w.space)


def url_for(route: Route, w, override: dict | None = None) -> str:
    """The concrete URL of a route, its path parameters filled from the world (``override`` wins)."""
    path = route.key
    if route.params:
        for prefix, values in _param_values(w):
            if route.key.startswith(prefix):
                values = {**values, **(override or {})}
                for name in route.params:
                    assert name in values, f"{route.key}: no value for <{name}> under {prefix}"
                    path = path.replace(f"<{name}>", str(values[name]))
                break
        else:
            raise AssertionError(f"{route.key}: no path parameters for this route in _param_values")
    if route.suffix:
        path = path + ".json" if route.name == "api-root" else path.rstrip("/") + ".json"
    return "/" + path


def expected(cells: str, role: str) -> set[str]:
    return set(cells.split()[ROLES.index(role)].split("|"))


def observed(response) -> str:
    if response.status_code == 302:
        url = response.url
        return "L" if url.startswith(("/accounts/login/", "/admin/login/")) else "302"
    return str(response.status_code)


def _refused_with_message(response) -> bool:
    """A redirect with an error message (``R``), told from a redirect after success (``302``)."""
    from django.contrib.messages import constants

    storage = getattr(response.wsgi_request, "_messages", None)
    return any(m.level == constants.ERROR for m in getattr(storage, "_queued_messages", []))


def snapshot() -> dict:
    """Every row of the apps' tables, the portal's tokens and notifications: did a write change any?"""
    from django.apps import apps

    models = [
        m
        for label in ("catalog", "provisioning", "pipelines", "knowledge", "scaffolder", "incidents")
        for m in apps.get_app_config(label).get_models()
    ]
    models += [apps.get_model("portal", name) for name in ("PersonalToken", "Notification", "NotificationPreference")]
    return {m._meta.label: list(m.objects.order_by("pk").values_list()) for m in models}


def _changes(before: dict, after: dict) -> list[str]:
    return [label for label in before if before[label] != after[label]]


@pytest.fixture
def world(request, settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PROVISIONING_WORK_DIR = tmp_path / "work"
    settings.KNOWLEDGE_SITES_DIR = tmp_path / "sites"
    settings.MEDIA_ROOT = tmp_path / "media"
    users = {role: request.getfixturevalue(role) for role in ROLES if role != "anonymous"}
    return world_module.build(users)


def _sign_in(client, w, role):
    client.logout()
    if role != "anonymous":
        client.force_login(w.users[role])


def test_every_url_pattern_has_a_row():
    keys = {route.key for route in ROUTES}
    assert len(keys) > 150, len(keys)
    missing = sorted(keys - set(GET))
    assert not missing, "URL patterns without a row in the role matrix (GET):\n" + "\n".join(missing)
    stale = sorted((set(GET) | set(WRITES)) - keys)
    assert not stale, "Rows for URL patterns that no longer exist:\n" + "\n".join(stale)
    post_only = sorted(key for key, cells in GET.items() if cells in (POST_ONLY, API_POST_ONLY, HOOK))
    unwritten = [key for key in post_only if key not in WRITES and key != "accounts/logout/"]
    assert not unwritten, "POST-only URL patterns without a row in WRITES:\n" + "\n".join(unwritten)


def _check_gets(client, w, role: str, rows: dict, override: dict | None = None) -> list[str]:
    wrong = []
    for route in ROUTES:
        if route.key not in rows:
            continue
        url = url_for(route, w, override)
        response = client.get(url + QUERY.get(route.key, ""))
        want = expected(rows[route.key], role)
        if observed(response) not in want:
            wrong.append(f"GET {url}: {observed(response)}, expected {'|'.join(sorted(want))}")
    return wrong


def _check_writes(client, w, role: str, rows: dict, override: dict | None = None) -> list[str]:
    """Each write runs in a savepoint that is rolled back, so every request meets the same world."""
    wrong = []
    for route in ROUTES:
        for method, body, cells in rows.get(route.key, []):
            url = url_for(route, w, override)
            data = body(w) if body else {}
            want = expected(cells, role)
            with transaction.atomic():
                before = snapshot()
                if route.key.startswith("api/"):
                    response = getattr(client, method)(url, json.dumps(data), content_type="application/json")
                elif method == "post":
                    response = client.post(url, data)
                got = observed(response)
                if got == "302" and _refused_with_message(response):
                    got = "R"
                if got == "200" and "F" in want:
                    got = "F"
                changed = _changes(before, snapshot())
                transaction.set_rollback(True)
            if got in want and got in SUCCEEDED:
                if not set(changed) - STAMPS:
                    wrong.append(f"{method.upper()} {url}: permitted ({got}) but changed nothing")
            elif got in want or got + "=" in want:
                if changed:
                    what = "a no-op" if got + "=" in want else "refused"
                    wrong.append(f"{method.upper()} {url}: {what} ({got}) but changed {', '.join(changed)}")
            else:
                wrong.append(f"{method.upper()} {url}: {got}, expected {'|'.join(sorted(want))}")
    return wrong


@pytest.mark.parametrize("role", ROLES)
def test_every_url_answers_a_get_as_the_matrix_says(role, world, client):
    _sign_in(client, world, role)
    wrong = _check_gets(client, world, role, GET)
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
def test_every_write_answers_as_the_matrix_says_and_changes_the_world_only_when_permitted(role, world, client):
    _sign_in(client, world, role)
    wrong = _check_writes(client, world, role, WRITES)
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
def test_groups_users_and_an_open_space_answer_as_their_tables_say(role, world, client):
    _sign_in(client, world, role)
    wrong = []
    for column in ENTITY_KINDS:
        gets, writes, params = _kind_tables(world, column)
        wrong += [f"[{column}] {line}" for line in _check_gets(client, world, role, gets, params)]
        wrong += [f"[{column}] {line}" for line in _check_writes(client, world, role, writes, params)]
    wrong += [f"[open] {line}" for line in _check_gets(client, world, role, OPEN_GET, _open_params(world))]
    wrong += [f"[open] {line}" for line in _check_writes(client, world, role, OPEN_WRITES, _open_params(world))]
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


def test_the_kind_and_open_space_tables_name_real_routes_and_cover_every_entity_write():
    keys = {route.key for route in ROUTES}
    tables = [KIND_GET, KIND_WRITES, OPEN_GET, OPEN_WRITES]
    stale = sorted({key for table in tables for key in table} - keys)
    assert not stale, "Rows for URL patterns that no longer exist:\n" + "\n".join(stale)
    entity_writes = {key for key in WRITES if key.startswith(("catalog/<kind>/", "api/catalog/entities/<pk>/"))}
    assert entity_writes <= set(KIND_WRITES), sorted(entity_writes - set(KIND_WRITES))
    assert all(len(cells) == len(ENTITY_KINDS) for cells in KIND_GET.values())


# --- regressions and what the status codes alone do not show ------------------------------------


def test_an_approver_never_approves_their_own_request(world, client):
    own = world.approvers_own
    client.force_login(world.users["approver"])
    html = client.post(f"/environments/requests/{own.pk}/approve/")
    api = client.post(f"/api/provisioning/requests/{own.pk}/approve/", {}, content_type="application/json")
    suffixed = client.post(f"/api/provisioning/requests/{own.pk}.json", {}, content_type="application/json")
    assert html.status_code == 302  # back to the request, with the refusal as a message
    assert api.status_code == 403
    assert suffixed.status_code == 405
    own.refresh_from_db()
    assert own.state == "awaiting_approval"
    assert not own.approvals.exists()
    # Another approver may.
    client.force_login(world.users["platform_admin"])
    assert client.post(f"/api/provisioning/requests/{own.pk}/approve/").status_code == 200


def test_api_actions_answer_with_a_format_suffix(world, client):
    """DRF's ``.json`` twins of custom actions and overridden create/update used to raise TypeError (500)."""
    client.force_login(world.users["developer"])
    assert client.get(f"/api/catalog/entities/{world.entity.pk}/relations.json").status_code == 200
    assert client.get(f"/api/provisioning/runs/{world.run.pk}/log.json").status_code == 200
    assert client.get(f"/api/knowledge/pages/{world.page.pk}/revisions.json").status_code == 200
    assert client.post("/api/tokens.json", {"name": "suffixed"}, content_type="application/json").status_code == 201
    assert client.post("/api/notifications/read-all.json").status_code == 200
    assert (
        client.put(
            f"/api/catalog/entities/{world.entity.pk}.json", json.dumps(COMPONENT), content_type="application/json"
        ).status_code
        == 200
    )


def test_lists_show_each_role_only_what_it_may_see(world, client):
    requests = {world.pending.pk, world.active.pk}

    def ids(url):
        body = client.get(url).json()
        return {row["id"] for row in body.get("results", body)}

    client.force_login(world.users["teammate"])
    assert requests <= ids("/api/provisioning/requests/")
    assert world.active.pk in ids("/api/provisioning/environments/")
    assert world.token.pk not in ids("/api/tokens/")
    assert world.notification.pk not in ids("/api/notifications/")
    client.force_login(world.users["stranger"])
    assert not requests & ids("/api/provisioning/requests/")
    assert not requests & ids("/api/provisioning/environments/")
    assert world.approvers_own.pk not in ids("/api/provisioning/requests/")
    client.force_login(world.users["approver"])
    assert requests <= ids("/api/provisioning/requests/")


def test_every_form_and_session_api_write_refuses_a_post_without_the_csrf_token(world):
    """As a Platform Admin (who may do everything), with a client that enforces CSRF like a browser."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["platform_admin"])
    wrong, checked = [], 0
    tables = [(WRITES, None), (OPEN_WRITES, _open_params(world))]
    tables += [_kind_tables(world, column)[1:] for column in ENTITY_KINDS]
    for route in ROUTES:
        if "/hooks/" in route.key or route.key == "api/incidents/alertmanager/":
            continue  # webhook receivers prove themselves by signature or token, not by a session
        if GET.get(route.key) in (MOVED, API_MOVED):
            continue  # a redirect changes nothing (WRITES checks that); the address it sends to checks the token
        for rows, override in tables:
            _check_csrf(client, world, route, rows.get(route.key, []), override, wrong)
            checked += len(rows.get(route.key, []))
    assert checked > 100, checked
    assert not wrong, "Writes accepted without a CSRF token:\n" + "\n".join(wrong)


def _check_csrf(client, world, route, rows, override, wrong) -> None:
    for method, body, _cells in rows:
        url = url_for(route, world, override)
        data = body(world) if body else {}
        with transaction.atomic():
            before = snapshot()
            if route.key.startswith("api/"):
                response = getattr(client, method)(url, json.dumps(data), content_type="application/json")
            else:
                response = client.post(url, data)
            changed = _changes(before, snapshot())
            transaction.set_rollback(True)
        if response.status_code != 403 or changed:
            wrong.append(f"{method.upper()} {url}: {response.status_code}, changed {changed or 'nothing'}")


OTHER_TEAM_YAML = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-other}
spec: {type: team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc-other}
spec: {type: service, lifecycle: production, owner: team-other}
"""


def test_a_person_cannot_join_another_team_by_editing_their_own_catalog_user(world, client):
    """Regression: a User's ``spec.memberOf`` makes its linked account a member of those Groups, and the
    linked person may edit their User: a PUT naming another team made them its member (and so an editor
    of everything it owns). Only Platform Admins add a User to a Group."""
    from catalog import services
    from catalog.models import Entity

    services.catalog_import_text(text=OTHER_TEAM_YAML, name="other")
    other = Entity.objects.get(ref_key="component:default/svc-other")
    me = world.user_entity

    def put(entity, document):
        url = f"/api/catalog/entities/{entity.pk}/"
        return client.put(url, json.dumps(document), content_type="application/json").status_code

    def with_teams(*teams):
        return {**_descriptor(me), "spec": {"memberOf": list(teams)}}

    client.force_login(world.users["developer"])
    before = snapshot()
    assert put(me, with_teams("team-matrix", "team-other")) == 403
    assert _changes(before, snapshot()) == []
    assert put(other, {**COMPONENT, "metadata": {"name": "svc-other"}}) == 403
    # The rest of their own User stays theirs to edit.
    assert put(me, with_teams("team-matrix")) == 200
    # A Platform Admin adds them to the other team; then they edit its component.
    client.force_login(world.users["platform_admin"])
    assert put(me, with_teams("team-matrix", "team-other")) == 200
    client.force_login(world.users["developer"])
    assert (
        put(
            other,
            {**COMPONENT, "metadata": {"name": "svc-other"}, "spec": {**COMPONENT["spec"], "owner": "team-other"}},
        )
        == 200
    )


# --- token-scope columns -----------------------------------------------------------------------
# The developer's API, called with a personal token instead of a session: a ``read`` token answers
# every GET as the developer's session does and every write with 403, changing nothing; a ``write``
# token answers writes as the session does. Either way, tokens are managed from a session only
# (TOKEN_SESSION_ONLY answers 403), so a stolen token cannot mint another.
TOKEN_SCOPES = {"read": ["read"], "write": ["read", "write"]}
TOKEN_SESSION_ONLY = {"api/tokens/", "api/tokens/<pk>/", "api/tokens/<pk>/revoke/"}


def _token_expectation(route_key: str, cells: str, scope: str, *, write: bool) -> set[str]:
    if cells == API_MOVED:
        return {"308"}  # sent on to the new address first, which then checks the token's scope
    if route_key in TOKEN_SESSION_ONLY or (write and scope == "read"):
        return {"403"}
    return expected(cells, "developer")


@pytest.mark.parametrize("scope", TOKEN_SCOPES)
def test_a_token_answers_as_its_owners_session_within_its_scope(scope, world, client):
    from portal import services

    key = services.token_create(user=world.users["developer"], name=f"matrix-{scope}", scopes=TOKEN_SCOPES[scope]).key
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert client.get("/api/me/", **auth).status_code == 200  # records its first use before the snapshots
    wrong = []
    for route in ROUTES:
        if not route.key.startswith("api/") or "/hooks/" in route.key or route.key == "api/incidents/alertmanager/":
            continue  # webhook receivers take no personal token (Alertmanager's is its receiver's: 401)
        url = url_for(route, world)
        if route.key in GET:
            want = _token_expectation(route.key, GET[route.key], scope, write=False)
            got = observed(client.get(url + QUERY.get(route.key, ""), **auth))
            if got not in want and got + "=" not in want:
                wrong.append(f"GET {url}: {got}, expected {'|'.join(sorted(want))}")
        for method, body, cells in WRITES.get(route.key, []):
            want = _token_expectation(route.key, cells, scope, write=True)
            data = body(world) if body else {}
            with transaction.atomic():
                before = snapshot()
                response = getattr(client, method)(url, json.dumps(data), content_type="application/json", **auth)
                changed = _changes(before, snapshot())
                transaction.set_rollback(True)
            got = observed(response)
            if got not in want and got + "=" not in want:
                wrong.append(f"{method.upper()} {url}: {got}, expected {'|'.join(sorted(want))}")
            elif want == {"403"} and changed:
                wrong.append(f"{method.upper()} {url}: refused but changed {', '.join(changed)}")
    assert not wrong, f"{scope} token:\n" + "\n".join(wrong)
