"""Figures of the fuzz tests: routes fuzzed per family, cases tried, 5xx answers seen.

Every fuzz case calls :func:`record`; ``tests/local/conftest.py`` prints :func:`summary` at the
end of a pytest run that ran any of them (the figures quoted in docs/security.md), e.g.
``pytest -q -p no:cacheprovider tests/local/test_fuzz.py``.
"""

from __future__ import annotations

from collections import Counter

#: Cases per ``(family, route)``.
CASES: Counter[tuple[str, str]] = Counter()
#: Every 5xx answer (the fuzz tests fail on the first; this is the figure to quote).
SERVER_ERRORS: list[str] = []
#: HTTP statuses answered, and how the gateway cases ended (``"close 4002"``, ``"answered"``).
OUTCOMES: Counter[str] = Counter()

FAMILIES = ("messages", "channels", "guilds", "users/application", "CDN", "admin API", "gateway frames")


def family_of(template: str) -> str:
    """The route family of a REST route template (``/channels/{channel_id}/messages`` → messages)."""
    if template.startswith("/attachments/"):
        return "CDN"
    if template.startswith("/_local/"):
        return "admin API"
    if template.startswith("/gateway "):
        return "gateway frames"
    if template.startswith("/channels/"):
        rest = template.removeprefix("/channels/{channel_id}")
        return "messages" if rest.startswith(("/messages", "/pins")) else "channels"
    if template.startswith("/guilds"):
        return "guilds"
    return "users/application"


def record(route: str, status: int | None, *, family: str | None = None, outcome: str | None = None) -> None:
    """Count one case of ``route`` (``"METHOD /template"`` or a name) and its answer's HTTP status
    (``None`` for a gateway case, whose ``outcome`` is counted instead)."""
    template = route.split(" ", 1)[1] if " " in route and route.split(" ", 1)[0].isupper() else route
    CASES[(family or family_of(template), route)] += 1
    OUTCOMES[outcome or str(status)] += 1
    if status is not None and status >= 500:
        SERVER_ERRORS.append(f"{route}: {status}")


def summary() -> str:
    """One paragraph with the figures per family and in total."""
    per_family: dict[str, tuple[int, int]] = {}
    for (family, _), count in CASES.items():
        routes, cases = per_family.get(family, (0, 0))
        per_family[family] = (routes + 1, cases + count)
    order = [f for f in FAMILIES if f in per_family] + sorted(set(per_family) - set(FAMILIES))
    parts = [f"{f}: {per_family[f][0]} routes, {per_family[f][1]} cases" for f in order]
    outcomes = ", ".join(f"{name} x{count}" for name, count in sorted(OUTCOMES.items()))
    return (
        f"fuzz: {len(per_family)} route families, {len(CASES)} routes, {sum(CASES.values())} cases, "
        f"{len(SERVER_ERRORS)} 5xx\n  " + "\n  ".join(parts) + f"\n  outcomes: {outcomes}"
    )
