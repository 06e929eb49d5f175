"""Every state transition of a request (and of its runs) goes through here.

Each transition is one function: it locks the request row, checks that the
move is legal from the current state, changes it, writes a timeline entry and
an audit event, and enqueues work after the transaction commits. The lock
order is always request, then run, so two transitions never deadlock.

The functions live in one module per object (templates, requests, runs,
Kubernetes, environments); shared helpers are in ``_common``. Callers import
them from here. Tests that replace ``_enqueue_run`` patch ``_common``, where
``_new_run`` looks it up.
"""

from portal.services import PermissionDenied, ServiceError
from provisioning.services._common import (
    NAME_RE,
    REQUESTER_EVENTS,
    TRANSITIONS,
    IllegalTransition,
    RequestInvalid,
    S,
    _current_plan,
    _enqueue_run,
    _ids_in_chunks,
    _last_run_kind,
    _lock_request,
    _new_run,
    _notify_approvers,
    _notify_requester,
    _request_url,
    _transition,
    expiry_warn_at,
)
from provisioning.services.environments import (
    drift_record,
    environments_sweep,
    request_destroy,
    request_drift_check,
    request_extend,
    request_release_lock,
    run_destroy_succeeded,
)
from provisioning.services.kubernetes import (
    KubernetesOutcome,
    KubernetesSkipped,
    cluster_for,
    cluster_test,
    environment_objects,
    namespace_name,
    substitution_values,
)
from provisioning.services.requests import (
    _schema_errors,
    _with_defaults,
    request_approve,
    request_cancel,
    request_reject,
    request_retry,
    request_submit,
)
from provisioning.services.runs import (
    _finish_run,
    log_append,
    log_redact,
    run_apply_succeeded,
    run_claim,
    run_fail,
    run_heartbeat,
    run_plan_succeeded,
    run_set_command,
    runs_reap_dead,
)
from provisioning.services.templates import (
    LoadResult,
    template_publish,
    template_reject,
    templates_reload,
)

__all__ = [
    "IllegalTransition",
    "KubernetesOutcome",
    "KubernetesSkipped",
    "LoadResult",
    "NAME_RE",
    "PermissionDenied",
    "REQUESTER_EVENTS",
    "RequestInvalid",
    "S",
    "TRANSITIONS",
    "ServiceError",
    "_current_plan",
    "_enqueue_run",
    "_finish_run",
    "_ids_in_chunks",
    "_last_run_kind",
    "_lock_request",
    "_new_run",
    "_notify_approvers",
    "_notify_requester",
    "_request_url",
    "_schema_errors",
    "_transition",
    "_with_defaults",
    "cluster_for",
    "cluster_test",
    "drift_record",
    "environment_objects",
    "environments_sweep",
    "expiry_warn_at",
    "log_append",
    "log_redact",
    "namespace_name",
    "request_approve",
    "request_cancel",
    "request_destroy",
    "request_drift_check",
    "request_extend",
    "request_reject",
    "request_release_lock",
    "request_retry",
    "request_submit",
    "run_apply_succeeded",
    "run_claim",
    "run_destroy_succeeded",
    "run_fail",
    "run_heartbeat",
    "run_plan_succeeded",
    "run_set_command",
    "runs_reap_dead",
    "substitution_values",
    "template_publish",
    "template_reject",
    "templates_reload",
]
