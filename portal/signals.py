"""Audit handlers: logins, failed logins, and changes to roles and account flags.

Roles are Django auth groups (see ``portal.roles``). Adding a user to a group or
removing them, from either side (``user.groups`` or ``group.user_set``: the admin's
user form, code, a data migration), and changing ``is_staff``, ``is_superuser`` or
``is_active`` each write an audit event naming the user, the change and the roles or
flags before and after. The actor and IP come from the request being served, if any
(``portal.request_context``); without one the event is the system's.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.dispatch import receiver

from portal.request_context import client_ip, current_user
from portal.services import audit_record

User = get_user_model()

FLAGS = ("is_active", "is_staff", "is_superuser")


@receiver(user_logged_in)
def record_login(sender, request, user, **kwargs):
    method = getattr(request, "_bridge_sign_in_method", "password")
    audit_record(actor=user, action="auth.login", obj=user, changes={"method": method}, ip_address=client_ip(request))


@receiver(user_login_failed)
def record_failed_login(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    audit_record(actor=None, action="auth.login_failed", changes={"username": username}, ip_address=client_ip(request))


# --- roles ---------------------------------------------------------------------------


def _record_role_change(user, *, added: list[str], removed: list[str]) -> None:
    after = sorted(user.groups.values_list("name", flat=True))
    before = sorted((set(after) - set(added)) | set(removed))
    from portal.accounts.services import change_source

    user.__dict__.pop("_bridge_group_names", None)  # the permission cache of portal.permissions
    source = change_source()
    for action, names in (("auth.role.add", added), ("auth.role.remove", removed)):
        for name in names:
            changes = {"role": name, "before": before, "after": after}
            if source:
                changes["source"] = source
            audit_record(actor=current_user(), action=action, obj=user, changes=changes)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="portal-audit-role-membership")
def record_role_membership(sender, instance, action, reverse, model, pk_set, **kwargs):
    """``user.groups.add/remove/set/clear`` (reverse=False) and ``group.user_set...`` (reverse=True)."""
    if action == "pre_clear":
        # clear() tells post_clear nothing about what it removed: remember it now.
        related = instance.user_set if reverse else instance.groups
        instance._bridge_cleared_pks = set(related.values_list("pk", flat=True))
        return
    if action == "post_clear":
        pk_set = getattr(instance, "_bridge_cleared_pks", set())
        instance.__dict__.pop("_bridge_cleared_pks", None)
    elif action not in ("post_add", "post_remove"):
        return
    if not pk_set:
        return
    adding = action == "post_add"
    if reverse:  # instance is a Group; pk_set holds users
        for user in User.objects.filter(pk__in=pk_set).order_by("pk"):
            _record_role_change(
                user, added=[instance.name] if adding else [], removed=[] if adding else [instance.name]
            )
    else:  # instance is a User; pk_set holds groups
        names = sorted(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
        _record_role_change(instance, added=names if adding else [], removed=[] if adding else names)


# --- account flags -------------------------------------------------------------------


@receiver(pre_save, sender=User, dispatch_uid="portal-audit-flags-before")
def remember_flags(sender, instance, update_fields=None, raw=False, **kwargs):
    instance._bridge_flags_before = None
    if raw or (update_fields is not None and not set(update_fields) & set(FLAGS)):
        return  # a fixture load, or a save that cannot touch the flags (last_login on every sign-in)
    if instance.pk is None or instance._state.adding:
        return
    instance._bridge_flags_before = User.objects.filter(pk=instance.pk).values(*FLAGS).first()


@receiver(post_save, sender=User, dispatch_uid="portal-audit-flags-after")
def record_flags(sender, instance, created, raw=False, **kwargs):
    before = instance.__dict__.pop("_bridge_flags_before", None)
    if raw:
        return
    after = {flag: getattr(instance, flag) for flag in FLAGS}
    if created:
        # A new account is only worth a line when it starts with privileges.
        if not (instance.is_staff or instance.is_superuser):
            return
        before = {"is_active": None, "is_staff": None, "is_superuser": None}
    if before is None:
        return
    changed = {flag: {"before": before[flag], "after": after[flag]} for flag in FLAGS if before[flag] != after[flag]}
    if changed:
        audit_record(actor=current_user(), action="auth.user.flags", obj=instance, changes=changed)
