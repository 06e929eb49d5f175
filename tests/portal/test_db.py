"""The written-out lookups of ``portal.db`` give what the ORM gives, on the kept cursor as on the first."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from portal import services
from portal.models import PersonalToken

pytestmark = pytest.mark.django_db

FIELDS = [field.attname for field in PersonalToken._meta.concrete_fields]
USER_FIELDS = ["id", "username", "is_active", "is_staff", "is_superuser", "last_login", "date_joined"]


def as_the_orm_reads_it(token: PersonalToken):
    found = PersonalToken.objects.select_related("user").get(pk=token.pk)
    return [getattr(found, name) for name in FIELDS], [getattr(found.user, name) for name in USER_FIELDS]


def test_a_token_and_its_user_read_by_the_written_out_query_equal_the_orms_values(developer):
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    created = services.token_create(user=developer, name="values", scopes=["read", "write"])
    PersonalToken.objects.filter(pk=created.token.pk).update(
        expires_at=datetime.datetime(2031, 3, 30, 1, 59, 59, 999999, tzinfo=berlin),
        last_used_at=datetime.datetime(2026, 12, 6, 18, 0, 0, 1, tzinfo=datetime.UTC),
        last_used_ip="2001:db8::1",
    )
    type(developer).objects.filter(pk=developer.pk).update(
        last_login=datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))
    )
    expected_token, expected_user = as_the_orm_reads_it(created.token)

    # Past the prepare threshold, so that PostgreSQL answers from its prepared statement too.
    for _ in range(8):
        token, extra = services.token_with_user(created.key)
        assert extra == ()
        assert [getattr(token, name) for name in FIELDS] == expected_token
        assert [getattr(token.user, name) for name in USER_FIELDS] == expected_user
        for value in (token.expires_at, token.last_used_at, token.created_at, token.user.last_login):
            assert value.tzinfo is datetime.UTC  # as Django's own loader gives it
        assert token.scopes == ["read", "write"]


def test_a_token_never_used_reads_its_empty_timestamps_as_none(developer):
    created = services.token_create(user=developer, name="fresh", scopes=["read"])

    for _ in range(8):
        token, _ = services.token_with_user(created.key)
        assert token.last_used_at is None and token.revoked_at is None
        assert token.user.last_login is None
        assert token.pk == created.token.pk


def test_an_unknown_or_altered_key_finds_nothing(developer):
    created = services.token_create(user=developer, name="known", scopes=["read"])

    assert services.token_with_user(created.key + "x") == (None, ())
    assert services.token_with_user("brg_" + "0" * 40) == (None, ())
    assert services.token_accept(None) is None
