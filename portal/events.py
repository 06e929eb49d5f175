"""Signals that let one app hear about another's events without importing it.

Senders and receivers both import only ``portal``, so the arrows of DESIGN.md
keep pointing at the core.
"""

from django.dispatch import Signal

#: Sent after commit when an incident starts, changes or ends. Keyword arguments:
#: ``source`` and ``external_id`` (stable identity), ``title``, ``entity_id`` (a
#: catalog Entity pk or None), ``started_at``, ``resolved_at`` (or None),
#: ``deployment_ref`` (a CI deployment id, or ""), ``url`` (absolute path) and
#: ``outcome`` ("" while open; "false_alarm" means it was no production failure).
incident_changed = Signal()

#: Sent inside the transaction when postmortems (knowledge pages) were linked to or unlinked from
#: incidents, or changed the deployment they name. Keyword argument: ``incident_ids`` (a list).
#: The incidents app answers by sending ``incident_changed`` for each of them.
postmortems_changed = Signal()

#: Sent after commit when a push to a Git repository was received (pipelines' webhook receivers).
#: Keyword arguments: ``provider`` ("github", "gitlab" or "generic"), ``host`` (host[:port] of the
#: repository's web URL, lower case), ``repository`` (owner/name or group/.../project), ``clone_url``,
#: ``branch`` (the pushed branch, "" for a tag), ``default_branch`` (or ""), ``after`` (the new commit
#: SHA) and ``paths`` (the files the push added, changed or removed; None when the payload cannot
#: tell, e.g. more commits than it lists).
git_pushed = Signal()
