"""Embeds of the /db commands stay within Discord's limits, whatever they hold."""

from __future__ import annotations

import pytest
from discobase.cogs._pages import EMBED_TOTAL, FIELD_VALUE, FIELDS_PER_EMBED, Item, paginate, truncate
from hypothesis import given, settings
from hypothesis import strategies as st


def embed_size(embed: dict[str, object]) -> int:
    """Discord's count: title, description, field names and values, footer text."""
    fields = embed.get("fields", [])
    assert isinstance(fields, list)
    footer = embed.get("footer", {})
    assert isinstance(footer, dict)
    return (
        len(str(embed.get("title", "")))
        + len(str(embed.get("description", "")))
        + sum(len(f["name"]) + len(f["value"]) for f in fields)
        + len(str(footer.get("text", "")))
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.text(max_size=400), st.text(max_size=3000), st.booleans()), max_size=80),
    st.text(max_size=5000),
    st.integers(min_value=1, max_value=40),
)
def test_every_page_is_within_the_limits(
    items: list[tuple[str, str, bool]], description: str, per_page: int
) -> None:
    pages = paginate(
        "t" * 300, [Item(n, v, code=c) for n, v, c in items], description=description, per_page=per_page
    )
    assert pages
    shown = 0
    for number, embed in enumerate(pages, start=1):
        data = embed.to_dict()
        fields = data.get("fields", [])
        assert len(fields) <= min(per_page, FIELDS_PER_EMBED)
        assert all(len(f["name"]) <= 256 and len(f["value"]) <= FIELD_VALUE for f in fields)
        assert len(data.get("title", "")) <= 256
        assert embed_size(data) <= EMBED_TOTAL  # type: ignore[arg-type]
        assert data["footer"]["text"].startswith(f"page {number}/{len(pages)}")
        shown += len(fields)
    assert shown == len(items)  # nothing dropped: long values are cut, not left out


def test_truncation_says_how_much_is_shown() -> None:
    text, cut = truncate("x" * 5000, 1024)
    assert cut
    assert len(text) == 1024
    assert text.endswith("… (truncated: 1024 of 5000 characters shown)")
    assert truncate("short", 1024) == ("short", False)


@pytest.mark.parametrize("count", [0, 1, 10, 11, 25])
def test_ten_records_a_page(count: int) -> None:
    pages = paginate("find", [Item(f"#{i}", "{}") for i in range(count)])
    assert [len(p.fields) for p in pages] == (
        [0] if count == 0 else [min(10, count - 10 * i) for i in range(len(pages))]
    )
