"""Sessions are recorded at sign-in, so that losing a role or being deactivated can end them all;
a lock-out is recorded as a refused sign-in."""

import time

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.dispatch import receiver

from portal.accounts import services
from portal.request_context import client_ip

User = get_user_model()

SIGNED_IN_AT = "_bridge_signed_in_at"
SEEN_AT = "_bridge_seen_at"


@receiver(user_logged_in, dispatch_uid="accounts-session-start")
def remember_session(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    now = int(time.time())
    request.session[SIGNED_IN_AT] = now
    request.session[SEEN_AT] = now
    if request.session.session_key is None:
        request.session.save()
    services.session_recorded(
        user=user,
        session_key=request.session.session_key,
        method=getattr(request, "_bridge_sign_in_method", "password"),
        ip_address=client_ip(request),
    )


@receiver(user_locked_out, dispatch_uid="accounts-locked-out")
def locked_out(sender, request, username, ip_address, **kwargs):
    """django-axes locked this (username, address) pair, or refused it while locked: say so in the audit
    log, where the wrong passwords alone read as ``auth.login_failed``."""
    services.sign_in_refused(reason="locked_out", request=request, username=str(username or ""))


@receiver(user_logged_out, dispatch_uid="accounts-session-end")
def forget_session(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        services.session_forgotten(session_key=request.session.session_key)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="accounts-role-loss")
def role_lost(sender, instance, action, reverse, model, pk_set, **kwargs):
    """Losing a role, from any side (admin, provider, code), ends the sessions and revokes the tokens."""
    if action == "pre_clear":
        related = instance.user_set if reverse else instance.groups
        instance._bridge_accounts_cleared = set(related.values_list("pk", flat=True))
        return
    if action == "post_clear":
        pk_set = instance.__dict__.pop("_bridge_accounts_cleared", set())
    elif action != "post_remove":
        return
    if not pk_set:
        return
    users = User.objects.filter(pk__in=pk_set) if reverse else [instance]
    for user in users:
        services.access_reduced(user=user, reason="lost a role")


@receiver(pre_save, sender=User, dispatch_uid="accounts-deactivation-before")
def remember_active(sender, instance, update_fields=None, raw=False, **kwargs):
    instance._bridge_was_active = None
    if raw or instance._state.adding or (update_fields is not None and "is_active" not in update_fields):
        return
    instance._bridge_was_active = User.objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()


@receiver(post_save, sender=User, dispatch_uid="accounts-deactivation-after")
def deactivated(sender, instance, created, raw=False, **kwargs):
    was_active = instance.__dict__.pop("_bridge_was_active", None)
    if not raw and not created and was_active and not instance.is_active:
        services.access_reduced(user=instance, reason="account deactivated")
