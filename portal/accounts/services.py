"""Signing in and losing access: OpenID Connect accounts, groups to roles and teams, sessions, delays."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.accounts.models import IdpTeam, OidcIdentity, SignedInSession
from portal.accounts.oidc import SignInRefused
from portal.roles import PLATFORM_ADMINS
from portal.services import audit_record, tokens_revoke_all

logger = logging.getLogger(__name__)

IDP_SOURCE = "identity provider"
_change_source: ContextVar[str | None] = ContextVar("bridge_role_change_source", default=None)


@contextmanager
def changes_from(source: str):
    """Role changes made inside this block are recorded as coming from ``source``."""
    token = _change_source.set(source)
    try:
        yield
    finally:
        _change_source.reset(token)


def change_source() -> str | None:
    return _change_source.get()


# --- reading the provider's claims -------------------------------------------------------------


def claim_at(claims: dict, path: str):
    """The value at a dotted path (``groups``, ``realm_access.roles``); a key with dots is tried whole first."""
    if not path:
        return None
    if path in claims:
        return claims[path]
    value = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def groups_from(claims: dict) -> list[str]:
    """The person's groups at the provider; a missing claim means no groups (never "keep the old ones")."""
    value = claim_at(claims, settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return sorted({str(item)[:200] for item in value if isinstance(item, (str, int)) and str(item)})


def _username_for(claims: dict) -> str:
    User = get_user_model()
    max_length = User._meta.get_field("username").max_length
    wanted = claim_at(claims, settings.OIDC_USERNAME_CLAIM) or claims.get("email") or claims["sub"]
    return str(wanted).strip()[:max_length] or str(claims["sub"])[:max_length]


def _free_username(base: str) -> str:
    User = get_user_model()
    if not User.objects.filter(username=base).exists():
        return base
    for n in range(2, 1000):
        candidate = f"{base[:140]}-{n}"
        if not User.objects.filter(username=candidate).exists():
            return candidate
    raise SignInRefused("username_taken", "No free user name for this account; ask a Platform Admin.")


def _profile(claims: dict) -> dict:
    profile = {}
    if claims.get("email") and claims.get("email_verified") is not False:
        profile["email"] = str(claims["email"])[:254]
    given, family = claims.get("given_name"), claims.get("family_name")
    if not (given or family) and claims.get("name"):
        given, _, family = str(claims["name"]).partition(" ")
    if given or family:
        profile["first_name"] = str(given or "")[:150]
        profile["last_name"] = str(family or "")[:150]
    return profile


# --- signing in --------------------------------------------------------------------------------


def oidc_user_for(*, issuer: str, claims: dict):
    """The account of the person the provider vouched for, created on first sign-in, its profile,
    roles and teams brought in step with the provider. Raises ``SignInRefused``."""
    User = get_user_model()
    subject = str(claims["sub"])[:255]
    with transaction.atomic():
        identity = (
            OidcIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        if identity is None:
            identity = _first_sign_in(User, issuer=issuer, subject=subject, claims=claims)
        user = identity.user
        if not user.is_active:
            raise SignInRefused("account_disabled", "Your Bridge account is deactivated. Ask a Platform Admin.")
        profile = _profile(claims)
        changed = {field: value for field, value in profile.items() if getattr(user, field) != value}
        if changed:
            for field, value in changed.items():
                setattr(user, field, value)
            user.save(update_fields=list(changed))
            audit_record(actor=user, action="auth.profile.sync", obj=user, changes={"fields": sorted(changed)})
        groups = groups_from(claims)
        lost = False
        if settings.OIDC_GROUPS_CLAIM:
            lost |= _sync_roles(user, groups)
            lost |= _sync_teams(user, groups)
        identity.groups = groups
        identity.last_sign_in_at = timezone.now()
        identity.save(update_fields=["groups", "last_sign_in_at"])
        if lost:
            access_reduced(user=user, reason="lost a role or team at the identity provider")
    return user


def _first_sign_in(User, *, issuer: str, subject: str, claims: dict) -> OidcIdentity:
    username = _username_for(claims)
    existing = User.objects.filter(username=username).first()
    if (
        existing is not None
        and settings.OIDC_LINK_EXISTING_USERS
        and username != settings.BREAK_GLASS_USERNAME
        and not OidcIdentity.objects.filter(user=existing).exists()
    ):
        user = existing
        audit_record(actor=user, action="auth.oidc.link", obj=user, changes={"issuer": issuer, "subject": subject})
    else:
        user = User.objects.create_user(username=_free_username(username))
        user.set_unusable_password()
        user.save(update_fields=["password"])
        audit_record(actor=user, action="auth.user.create", obj=user, changes={"issuer": issuer, "subject": subject})
    try:
        with transaction.atomic():
            return OidcIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    except IntegrityError:  # the same person's first sign-in in two tabs at once
        return OidcIdentity.objects.select_related("user").get(issuer=issuer, subject=subject)


def managed_roles() -> dict[str, set[str]]:
    """{role: the provider groups that give it}; Platform Admins only when allowed by configuration."""
    mapping = {role: set(groups) for role, groups in settings.OIDC_ROLE_MAPPING.items()}
    if not settings.OIDC_MANAGE_PLATFORM_ADMINS:
        mapping.pop(PLATFORM_ADMINS, None)
    return mapping


def _sync_roles(user, groups: Iterable[str]) -> bool:
    """Give and take the mapped roles; roles outside the mapping are left as they are. True if one was lost."""
    groups = set(groups)
    mapping = managed_roles()
    if not mapping:
        return False
    have = set(user.groups.filter(name__in=mapping).values_list("name", flat=True))
    want = {role for role, givers in mapping.items() if givers & groups}
    with changes_from(IDP_SOURCE):
        if want - have:
            user.groups.add(*Group.objects.filter(name__in=want - have))
        if have - want:
            user.groups.remove(*Group.objects.filter(name__in=have - want))
    return bool(have - want)


def _sync_teams(user, groups: list[str]) -> bool:
    """Catalog Groups that match the provider's groups (by name or ``bridge.io/idp-group``). True if one was lost."""
    from portal.extensions import teams_for_idp_groups

    before = set(IdpTeam.objects.filter(user=user).values_list("team_ref", flat=True))
    after = set(teams_for_idp_groups(groups)) if settings.OIDC_TEAMS_FROM_GROUPS else set()
    for action, refs in (("auth.team.add", after - before), ("auth.team.remove", before - after)):
        for ref in sorted(refs):
            audit_record(
                actor=None,
                action=action,
                obj=user,
                changes={"team": ref, "source": IDP_SOURCE, "before": sorted(before), "after": sorted(after)},
            )
    IdpTeam.objects.filter(user=user, team_ref__in=before - after).delete()
    IdpTeam.objects.bulk_create([IdpTeam(user=user, team_ref=ref) for ref in sorted(after - before)])
    user.__dict__.pop("_bridge_team_refs", None)
    return bool(before - after)


def sign_in_refused(*, reason: str, request=None, username: str = "") -> None:
    """A refused sign-in (bad state, bad token, provider down, password sign-in off) in the audit log."""
    from portal.request_context import client_ip

    changes = {"reason": reason}
    if username:
        changes["username"] = username[:150]
    audit_record(actor=None, action="auth.login_refused", changes=changes, ip_address=client_ip(request))


# --- losing access -------------------------------------------------------------------------------


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def sessions_end(*, user, keep: str | None = None) -> int:
    """End every session ``user`` signed in with (but ``keep``), whatever the session store."""
    store = _session_store()
    ended = 0
    for row in SignedInSession.objects.filter(user=user).exclude(session_key=keep or ""):
        store(session_key=row.session_key).delete()
        row.delete()
        ended += 1
    return ended


def access_reduced(*, user, reason: str) -> None:
    """The person lost a role or a team, or was deactivated: their sessions end and their tokens stop working."""
    ended = sessions_end(user=user)
    revoked = tokens_revoke_all(user=user, reason=reason)
    if ended or revoked:
        audit_record(
            actor=None,
            action="auth.access_reduced",
            obj=user,
            changes={"reason": reason, "sessions_ended": ended, "tokens_revoked": revoked},
        )


def session_recorded(*, user, session_key: str | None, method: str, ip_address: str | None) -> None:
    if session_key:
        SignedInSession.objects.update_or_create(
            session_key=session_key, defaults={"user": user, "method": method[:20], "ip_address": ip_address}
        )


def session_forgotten(*, session_key: str | None) -> None:
    if session_key:
        SignedInSession.objects.filter(session_key=session_key).delete()


# --- password sign-in: the per-username delay -------------------------------------------------


def password_attempt_delay(*, username: str, known_device: bool) -> int:
    """Seconds to wait before this username may be tried again from a device it never signed in on.

    Lock-outs are per (username, address), so an attacker cannot lock a person out. Against an
    attacker using many addresses, once a username has had ``LOGIN_USERNAME_DELAY_AFTER`` failures in
    the cool-off period, unknown devices may try it only once every ``LOGIN_USERNAME_DELAY_SECONDS``.
    A browser that signed in as that person before (the signed device cookie) is never delayed.
    """
    from axes.models import AccessAttempt
    from django.db.models import Max, Sum

    if known_device or not username or settings.LOGIN_USERNAME_DELAY_SECONDS <= 0:
        return 0
    since = timezone.now() - timedelta(minutes=settings.AXES_COOLOFF_MINUTES)
    recent = AccessAttempt.objects.filter(username=username, attempt_time__gte=since).aggregate(
        failures=Sum("failures_since_start"), last=Max("attempt_time")
    )
    if not recent["failures"] or recent["failures"] < settings.LOGIN_USERNAME_DELAY_AFTER:
        return 0
    remaining = settings.LOGIN_USERNAME_DELAY_SECONDS - (timezone.now() - recent["last"]).total_seconds()
    return max(0, int(remaining + 0.999))
