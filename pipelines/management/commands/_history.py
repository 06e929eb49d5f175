"""What the history commands print for one repository."""

from pipelines.models import HistoryState


def describe(result) -> str:
    slug = result.repository.slug
    if result.state == HistoryState.SYNCED:
        read = f"{result.applied} runs or deployments read" if result.applied else "nothing new"
        requests = "1 request" if result.requests == 1 else f"{result.requests} requests"
        return f"{slug}: up to date, {read} ({requests})"
    if result.state == HistoryState.WAITING:
        until = result.repository.history_retry_at
        return f"{slug}: waiting for rate limit until {until:%Y-%m-%d %H:%M:%S} UTC ({result.message})"
    if result.state == "busy":
        return f"{slug}: {result.message}"
    return f"{slug}: failed: {result.message}"
