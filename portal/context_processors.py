from portal.permissions import is_approver, is_platform_admin
from portal.selectors import unread_notification_count


def navigation(request):
    user = getattr(request, "user", None)
    return {
        "nav_is_approver": is_approver(user),
        "nav_is_platform_admin": is_platform_admin(user),
        "nav_unread_notifications": unread_notification_count(user),
    }
