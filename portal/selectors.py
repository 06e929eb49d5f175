from portal.models import PersonalToken


def tokens_of(user):
    return PersonalToken.objects.filter(user=user).order_by("revoked_at", "-created_at")


def unread_notification_count(user) -> int:
    from portal.models import Notification

    if not user or not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications_of(user):
    from portal.models import Notification

    return Notification.objects.filter(user=user)


def notification_preferences_of(user) -> dict[tuple[str, str], bool]:
    from portal.models import Channel, NotificationEvent, NotificationPreference

    stored = {(p.event, p.channel): p.enabled for p in NotificationPreference.objects.filter(user=user)}
    return {
        (event, channel): stored.get((event, channel), True)
        for event in NotificationEvent.values
        for channel in (Channel.IN_APP, Channel.EMAIL)
    }


def audit_events():
    from portal.models import AuditEvent

    return AuditEvent.objects.all()
