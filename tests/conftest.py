"""Shared fixtures: an owner, a teammate and a stranger; a real Celery worker."""

import pytest
from django.contrib.auth.models import Group

from portal.roles import APPROVERS, DEVELOPERS, PLATFORM_ADMINS
from tests.worker import CeleryWorker

PASSWORD = "correct-horse-battery"


def _make_user(django_user_model, username, *roles):
    user = django_user_model.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com")
    if roles:
        user.groups.add(*Group.objects.filter(name__in=roles))
    return user


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """Each test counts API requests from zero, as a fresh web process does (the throttles keep
    their windows in the process's memory, where the ids of one test's tokens recur in the next)."""
    from portal.accounts.throttling import forget_counts

    forget_counts()
    yield
    forget_counts()


@pytest.fixture(autouse=True)
def _fresh_catalog_caches():
    """Each test starts with the catalog list's per-version caches empty, as a fresh web process does:
    tests write entities straight to the database, so the catalog's version can recur with other data."""
    from catalog import selectors

    for cache in (selectors._COUNTS, selectors.RESULTS_HTML):
        cache.clear()
    yield


@pytest.fixture
def developer(django_user_model):
    return _make_user(django_user_model, "dev", DEVELOPERS)


@pytest.fixture
def teammate(django_user_model):
    return _make_user(django_user_model, "teammate", DEVELOPERS)


@pytest.fixture
def stranger(django_user_model):
    return _make_user(django_user_model, "stranger", DEVELOPERS)


@pytest.fixture
def approver(django_user_model):
    return _make_user(django_user_model, "appr", DEVELOPERS, APPROVERS)


@pytest.fixture
def platform_admin(django_user_model):
    return _make_user(django_user_model, "padmin", DEVELOPERS, APPROVERS, PLATFORM_ADMINS)


@pytest.fixture
def login(client):
    """``login(user)`` signs the test client in as that user and returns the client."""

    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real ``celery worker`` process on the configured broker and the test database.

    Tests that use it must commit their data: mark them ``django_db(transaction=True)``.
    """
    worker = CeleryWorker.for_test_database()
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def kube_emulator():
    """A running Kubernetes API emulator (see tests/kube_emulator.py)."""
    from tests.kube_emulator import KubeEmulator

    emulator = KubeEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def kube_connection(kube_emulator, tmp_path):
    """A ClusterConnection whose kubeconfig context points at the emulator."""
    from provisioning.kubernetes import ClusterConnection

    kubeconfig = kube_emulator.kubeconfig(tmp_path / "kubeconfig.yaml", context="emulator")
    return ClusterConnection(name="emulator", context="emulator", kubeconfig=str(kubeconfig))


@pytest.fixture
def deliver_inline(monkeypatch):
    """Email and chat deliveries run in the test process, right after commit, instead of on a worker."""
    from portal.tasks import deliver

    monkeypatch.setattr(deliver, "delay", lambda pk: deliver.apply(args=[pk]))


@pytest.fixture
def git_server(tmp_path):
    """A real Git server (git http-backend over HTTP on 127.0.0.1), see tests/gitserver.py."""
    from tests.gitserver import GitServer

    server = GitServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def git_integrations(settings, tmp_path):
    """``git_integrations([{...}, ...])`` sets GIT_INTEGRATIONS for the test (caches reset before and after)."""
    import json

    from portal.githosts import httpclient as githost_client
    from portal.githosts import integrations

    settings.GIT_CACHE_DIR = tmp_path / "git-cache"

    def _set(items: list[dict]) -> None:
        settings.GIT_INTEGRATIONS = json.dumps(items)
        integrations.forget()
        githost_client.reset_clients()
        githost_client.forget_rate_limits()

    _set([])
    yield _set
    integrations.forget()
    githost_client.reset_clients()
    githost_client.forget_rate_limits()


def _api(git_server, kind):
    from tests.githost_api import GitHostAPI

    return GitHostAPI(git_server, kind).start()


@pytest.fixture
def github_api(git_server, git_integrations):
    """A simulated GitHub API (recorded responses) over ``git_server``, with an integration for both."""
    api = _api(git_server, "github")
    git_integrations(
        [
            {
                "type": "github",
                "host": git_server.host,
                "api_base_url": api.api_url,
                "token": "ghp_test_token_0123456789",
                "allow_private_addresses": True,
            }
        ]
    )
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def gitlab_api(git_server, git_integrations):
    """A simulated GitLab API (recorded responses) over ``git_server``, with an integration for both."""
    api = _api(git_server, "gitlab")
    git_integrations(
        [
            {
                "type": "gitlab",
                "host": git_server.host,
                "api_base_url": api.api_url,
                "token": "glpat-test-token-0123",
                "allow_private_addresses": True,
            }
        ]
    )
    try:
        yield api
    finally:
        api.stop()


# A test's one-line figures (``record_property("summary", ...)``), printed at the end of the run:
# the reports reach this process from pytest-xdist's processes too, where a print would not show.
_SUMMARIES: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _SUMMARIES.extend(value for name, value in report.user_properties if name == "summary")


def pytest_terminal_summary(terminalreporter):
    for line in _SUMMARIES:
        terminalreporter.write_line(line)
