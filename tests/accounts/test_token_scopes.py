"""Scoped, expiring API tokens: a read token reads, never writes; tokens expire, warn, and say where they were used."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal import services
from portal.models import Notification, PersonalToken

pytestmark = pytest.mark.django_db


def _bearer(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_a_read_token_reads_but_every_write_is_a_403(client, developer):
    token = services.token_create(user=developer, name="dashboard", scopes=["read"])
    assert client.get("/api/me/", **_bearer(token.key)).status_code == 200
    response = client.post("/api/notifications/read-all/", **_bearer(token.key))
    assert response.status_code == 403
    assert "read scope only" in response.json()["error"]["message"]


def test_a_write_token_writes(client, developer):
    token = services.token_create(user=developer, name="ci", scopes=["read", "write"])
    assert client.post("/api/notifications/read-all/", **_bearer(token.key)).status_code == 200


def test_the_api_creates_tokens_with_scopes_and_a_default_expiry(login, developer, settings):
    client = login(developer)
    created = client.post("/api/tokens/", {"name": "ro", "scopes": ["read"]}, content_type="application/json").json()
    assert created["scopes"] == ["read"]
    expires = PersonalToken.objects.get(pk=created["id"]).expires_at
    assert timedelta(days=89) < expires - timezone.now() <= timedelta(days=90)
    both = client.post("/api/tokens/", {"name": "rw", "scopes": ["read", "write"]}, content_type="application/json")
    assert both.json()["scopes"] == ["read", "write"]


def test_unknown_scopes_and_too_long_lives_are_clear_400s(login, developer, settings):
    settings.API_TOKEN_MAX_DAYS = 30
    client = login(developer)
    bad_scope = client.post("/api/tokens/", {"name": "x", "scopes": ["admin"]}, content_type="application/json")
    assert bad_scope.status_code == 400
    too_long = client.post("/api/tokens/", {"name": "x", "expires_in_days": 31}, content_type="application/json")
    assert too_long.status_code == 400
    assert "1 to 30 days" in too_long.json()["error"]["message"]


def test_an_expired_token_is_refused(client, developer):
    token = services.token_create(user=developer, name="old", scopes=["read"])
    PersonalToken.objects.filter(pk=token.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/me/", **_bearer(token.key))
    assert response.status_code == 401


def test_a_token_shows_when_and_from_where_it_was_last_used(client, login, developer):
    token = services.token_create(user=developer, name="ci", scopes=["read"])
    client.get("/api/me/", REMOTE_ADDR="192.0.2.44", **_bearer(token.key))
    token.token.refresh_from_db()
    assert token.token.last_used_ip == "192.0.2.44" and token.token.last_used_at is not None
    assert "192.0.2.44" in login(developer).get(reverse("profile")).content.decode()


def test_owners_are_warned_once_a_week_before_a_token_expires(developer):
    soon = services.token_create(user=developer, name="soon", scopes=["read"], expires_in_days=5)
    services.token_create(user=developer, name="later", scopes=["read"], expires_in_days=30)
    assert services.tokens_warn_expiring(within_days=7) == 1
    assert services.tokens_warn_expiring(within_days=7) == 0
    notification = Notification.objects.get(user=developer)
    assert soon.token.name in notification.title and "expires" in notification.title


def test_deactivating_an_account_revokes_its_tokens(client, developer):
    token = services.token_create(user=developer, name="ci", scopes=["read"])
    developer.is_active = False
    developer.save()
    token.token.refresh_from_db()
    assert token.token.revoked_at is not None


def test_the_profile_form_makes_a_read_token_unless_write_is_ticked(login, developer):
    client = login(developer)
    client.post(reverse("token-create"), {"name": "ro", "expires_in_days": "10"})
    client.post(reverse("token-create"), {"name": "rw", "write": "on"})
    assert PersonalToken.objects.get(name="ro").scopes == ["read"]
    assert PersonalToken.objects.get(name="rw").scopes == ["read", "write"]
    response = client.post(reverse("token-create"), {"name": "x", "expires_in_days": "9999"}, follow=True)
    assert "at most 365 days" in response.content.decode()


@pytest.fixture(params=["process", "shared cache"])
def throttle_store(request, settings, tmp_path):
    """Where the throttles count: in the process (the default local-memory cache) or in a cache
    every process shares (a file cache here, as Redis with CACHE_URL)."""
    if request.param == "shared cache":
        _count_in_a_shared_cache(settings, tmp_path)
    return request.param


def _count_in_a_shared_cache(settings, folder):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(folder)}
    }


def test_too_many_calls_with_one_token_get_a_429_with_retry_after(client, developer, settings, throttle_store):
    settings.API_THROTTLE_RATES = {"token": "3/minute", "user": None}
    token = services.token_create(user=developer, name="busy", scopes=["read"])
    answers = [client.get("/api/me/", **_bearer(token.key)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0
    other = services.token_create(user=developer, name="calm", scopes=["read"])
    assert client.get("/api/me/", **_bearer(other.key)).status_code == 200


def test_the_per_user_throttle_counts_sessions_too(login, developer, settings, throttle_store):
    settings.API_THROTTLE_RATES = {"token": None, "user": "2/minute"}
    client = login(developer)
    assert [client.get("/api/me/").status_code for _ in range(3)] == [200, 200, 429]


def test_the_throttle_window_slides_as_drfs(developer, settings, throttle_store):
    from types import SimpleNamespace

    from portal.accounts.throttling import TokenRateThrottle

    settings.API_THROTTLE_RATES = {"token": "3/minute", "user": None}
    token = services.token_create(user=developer, name="clock", scopes=["read"]).token
    request = SimpleNamespace(auth=token, user=developer)
    clock = [1000.0]

    def ask(at):
        clock[0] = at
        throttle = TokenRateThrottle()
        throttle.timer = lambda: clock[0]
        return throttle.allow_request(request, None), throttle

    assert [ask(t)[0] for t in (1000.0, 1001.0, 1002.0)] == [True, True, True]
    refused, throttle = ask(1003.0)
    assert refused is False and throttle.wait() == 57.0  # the oldest leaves the window at 1060
    assert ask(1059.9)[0] is False
    assert ask(1060.0)[0] is True  # a time at the window's very start has left it, as in DRF
    assert ask(1060.5)[0] is False
    assert [ask(t)[0] for t in (1200.0, 1200.0, 1200.0, 1200.0)] == [True, True, True, False]


def test_the_shared_cache_reads_the_history_drfs_own_throttle_wrote(developer, settings, tmp_path):
    from types import SimpleNamespace

    from django.core.cache import cache

    from portal.accounts.throttling import TokenRateThrottle

    _count_in_a_shared_cache(settings, tmp_path)
    settings.API_THROTTLE_RATES = {"token": "3/minute", "user": None}
    token = services.token_create(user=developer, name="clock", scopes=["read"]).token
    cache.set(TokenRateThrottle().cache_format % {"scope": "token", "ident": token.pk}, [1101.0, 1100.0, 1099.0], 60)
    throttle = TokenRateThrottle()
    throttle.timer = lambda: 1102.0
    assert throttle.allow_request(SimpleNamespace(auth=token, user=developer), None) is False
    assert throttle.wait() == 57.0


def test_windows_in_the_process_drop_passed_periods_first_and_stay_bounded():
    from portal.accounts.throttling import ProcessWindows

    windows = ProcessWindows(max_keys=3)
    assert windows.hit("a", 0.0, 60.0, 2) == (True, 0, None)
    assert windows.hit("b", 50.0, 60.0, 2) == (True, 0, None)
    assert windows.hit("a", 55.0, 60.0, 2) == (True, 1, 0.0)
    assert windows.hit("a", 56.0, 60.0, 2) == (False, 2, 0.0)
    # "b" (last used at 50) has passed by 111; "a" (used at 55, still counting at 56) is kept.
    assert windows.hit("c", 111.0, 60.0, 2) == (True, 0, None)
    assert len(windows) == 2
    assert windows.hit("a", 114.0, 60.0, 2) == (True, 1, 55.0)  # 0 has left the window, 55 not yet
    assert windows.hit("a", 116.0, 60.0, 2) == (True, 1, 114.0)
    for key in ("d", "e", "f"):
        windows.hit(key, 117.0, 60.0, 2)
    assert len(windows) == 3  # at most max_keys: the least recently used ("c", then "a") went
    assert windows.hit("a", 118.0, 60.0, 2) == (True, 0, None)
    assert windows.hit("f", 118.0, 60.0, 2) == (True, 1, 117.0)
