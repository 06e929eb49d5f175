from django.contrib.auth.backends import ModelBackend

from portal.permissions import is_platform_admin


class RoleAwareModelBackend(ModelBackend):
    """Django's backend, plus: Platform Admins hold every model permission.

    The group cannot be given the permissions in a migration (they are created
    after migrating), and a role should not depend on a list kept in sync.
    """

    def has_perm(self, user_obj, perm, obj=None):
        if user_obj.is_active and is_platform_admin(user_obj):
            return True
        return super().has_perm(user_obj, perm, obj)

    def has_module_perms(self, user_obj, app_label):
        if user_obj.is_active and is_platform_admin(user_obj):
            return True
        return super().has_module_perms(user_obj, app_label)
