from __future__ import annotations


def idp_team_refs(user):
    """The refs of the teams the person's identity-provider groups gave at their last sign-in,
    as a queryset (usable as a subquery)."""
    from portal.accounts.models import IdpTeam

    return IdpTeam.objects.filter(user_id=user.pk).values("team_ref")
