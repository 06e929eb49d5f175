from django.contrib import admin

from portal.accounts.models import IdpTeam, OidcIdentity, SignedInSession


@admin.register(OidcIdentity)
class OidcIdentityAdmin(admin.ModelAdmin):
    list_display = ("user", "subject", "issuer", "last_sign_in_at")
    search_fields = ("user__username", "subject")
    readonly_fields = ("user", "issuer", "subject", "groups", "created_at", "last_sign_in_at")


@admin.register(IdpTeam)
class IdpTeamAdmin(admin.ModelAdmin):
    list_display = ("user", "team_ref")
    search_fields = ("user__username", "team_ref")


@admin.register(SignedInSession)
class SignedInSessionAdmin(admin.ModelAdmin):
    list_display = ("user", "method", "ip_address", "created_at")
    search_fields = ("user__username",)
    readonly_fields = ("user", "session_key", "method", "ip_address", "created_at")
