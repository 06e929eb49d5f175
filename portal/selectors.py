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


def global_search(user, query: str, *, per_group: int = 5, only: str = "") -> list[dict]:
    """Results of every registered search provider, grouped by type, in the providers' order."""
    from portal.extensions import search_providers

    query = query.strip()[:200]
    if len(query) < 2:
        return []
    groups = []
    for provider in search_providers():
        if only and provider.key != only:
            continue
        hits = provider.search(user, query, per_group)
        if hits:
            groups.append({"key": provider.key, "title": provider.title, "hits": hits[:per_group]})
    return groups
