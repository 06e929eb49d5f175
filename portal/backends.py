from django.contrib.auth.backends import ModelBackend

from portal.permissions import can_sign_in_with_password, is_platform_admin


class RoleAwareModelBackend(ModelBackend):
    """Django's backend, plus: Platform Admins hold every model permission, and password sign-in
    follows the policy (``can_sign_in_with_password``) wherever it is tried: the sign-in page, the
    admin's, or code.

    The group cannot be given the permissions in a migration (they are created
    after migrating), and a role should not depend on a list kept in sync.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is not None and password is not None and not can_sign_in_with_password(str(username)):
            from portal.accounts.services import sign_in_refused

            sign_in_refused(reason="password_sign_in_disabled", request=request, username=str(username))
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def has_perm(self, user_obj, perm, obj=None):
        if user_obj.is_active and is_platform_admin(user_obj):
            return True
        return super().has_perm(user_obj, perm, obj)

    def has_module_perms(self, user_obj, app_label):
        if user_obj.is_active and is_platform_admin(user_obj):
            return True
        return super().has_module_perms(user_obj, app_label)
