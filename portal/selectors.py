from portal.models import PersonalToken


def tokens_of(user):
    return PersonalToken.objects.filter(user=user).order_by("revoked_at", "-created_at")
