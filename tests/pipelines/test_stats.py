"""Success rate, median duration and the daily series, on a hand-computed fixture."""

from datetime import UTC, datetime, timedelta

import pytest

from pipelines import charts, providers, selectors
from pipelines.models import Pipeline, Repository, Run
from tests.pipelines import payloads

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture
def repo():
    repo = Repository.objects.create(provider="github", slug="acme/payments", default_branch="main")
    pipeline = Pipeline.objects.create(repository=repo, name="CI")
    # finished N days ago, status, duration in seconds
    rows = [
        (1, "success", 100),
        (2, "success", 300),
        (3, "failed", 200),
        (6, "cancelled", None),  # no duration: counts as finished, not in the median
        (10, "success", 1000),
        (20, "failed", 50),
        (40, "success", 9999),  # outside both windows
    ]
    for n, (days_ago, status, duration) in enumerate(rows):
        finished = NOW - timedelta(days=days_ago)
        Run.objects.create(
            pipeline=pipeline,
            provider_id=str(n),
            status=status,
            status_rank=2,
            created_at=finished - timedelta(seconds=duration or 0),
            finished_at=finished,
            duration_seconds=duration,
        )
    Run.objects.create(pipeline=pipeline, provider_id="running", status="running", status_rank=1, created_at=NOW)
    return repo


def test_success_rate_and_median_duration_over_7_and_30_days(repo):
    week = selectors.run_stats(Repository.objects.all(), 7, now=NOW)
    # 7 days: success 100, success 300, failed 200, cancelled → 2 of 4; median(100, 200, 300) = 200
    assert (week.finished, week.succeeded, week.success_rate, week.median_duration) == (4, 2, 0.5, 200)
    month = selectors.run_stats(Repository.objects.all(), 30, now=NOW)
    # 30 days: adds success 1000 and failed 50 → 3 of 6; median(50, 100, 200, 300, 1000) = 200
    assert (month.finished, month.succeeded, month.success_rate, month.median_duration) == (6, 3, 0.5, 200)


def test_the_daily_series_counts_outcomes_per_day(repo):
    series = selectors.daily_series(Repository.objects.all(), days=30, now=NOW)
    assert len(series) == 30
    assert series[-1]["day"] == NOW.date()
    by_day = {row["day"]: row for row in series}
    one_day_ago = by_day[(NOW - timedelta(days=1)).date()]
    assert (one_day_ago["success"], one_day_ago["failed"], one_day_ago["avg"]) == (1, 0, 100)
    three_days_ago = by_day[(NOW - timedelta(days=3)).date()]
    assert (three_days_ago["success"], three_days_ago["failed"]) == (0, 1)
    assert sum(row["success"] + row["failed"] for row in series) == 6


def test_the_charts_are_svg_with_one_bar_per_day_and_escaped_titles(repo):
    series = selectors.daily_series(Repository.objects.all(), days=30, now=NOW)
    svg = charts.outcome_chart(series, title="<script>")
    assert svg.startswith("<svg") and svg.count('class="chart-ok"') == 30
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    line = charts.duration_chart(series)
    assert "<polyline" in line and line.count("<circle") == 5


def test_gitlab_job_hooks_without_a_project_object_use_the_repository_homepage():
    payload = payloads.gitlab_job()
    del payload["project"]
    event = providers.parse("gitlab", "Job Hook", payload)
    assert event.repo.slug == "shop/checkout"
    assert event.repo.url == "https://gitlab.example.com/shop/checkout"
    assert (event.name, event.stage, event.status, event.run_id) == ("rspec", "test", "success", "31")


def test_gitlab_times_with_an_offset_are_read_correctly():
    assert providers.parse_time("2026-11-20 10:20:00 +0100").isoformat() == "2026-11-20T10:20:00+01:00"
    assert providers.parse_time("2026-11-20 10:20:00 UTC").isoformat() == "2026-11-20T10:20:00+00:00"
    with pytest.raises(providers.PayloadError):
        providers.parse_time("yesterday", "created_at")
