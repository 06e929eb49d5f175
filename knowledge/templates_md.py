"""Starting text for each page kind (as Outline's templates)."""

ARTICLE = """# {title}

Write the article here. Link other pages with [[Page Title]].
"""

RUNBOOK = """# {title}

## Symptoms

What the alert or the user sees.

## Diagnosis

- [ ] Check the service dashboard
- [ ] Look at the recent deployments

## Mitigation

- [ ] Roll back the last deployment if it is the cause
- [ ] Scale up if the load is the cause

## Escalation

Who to call when the steps above do not help, and how.
"""

POSTMORTEM = """# {title}

## Summary

What happened, in two sentences.

## Impact

Who was affected, for how long.

## Timeline

| time (UTC) | event |
|---|---|
| | detected |
| | mitigated |

## Root cause

Why it happened.

## Action items

- [ ] An action, its owner and its due date
"""

BY_KIND = {"article": ARTICLE, "runbook": RUNBOOK, "postmortem": POSTMORTEM}


def starting_text(kind: str, title: str) -> str:
    return BY_KIND.get(kind, ARTICLE).format(title=title or "Untitled")
