"""Demo data: the shipped software templates, and the local Git folder runs push to offline."""

from scaffolder import repositories, services


def seed(log) -> None:
    for result in services.templates_reload(actor=None):
        log(f"software template {result.name}: {result.status}" + (f" ({result.message})" if result.message else ""))
    root = repositories.local_root()
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        log(f"local Git folder for new repositories: {root}")
