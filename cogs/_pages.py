"""Embeds within Discord's limits, paginated with buttons.

Discord refuses an embed whose title exceeds 256 characters, description
4,096, a field name 256, a field value 1,024, footer 2,048, with more than 25
fields, or whose text adds up to more than 6,000 characters
(https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
:func:`paginate` packs fields into pages that respect every one of these
limits, truncating a long value with a note, and :class:`Pages` shows them
one at a time with Previous / Next buttons that only the invoker may use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import discord

__all__ = [
    "EMBED_TOTAL",
    "FIELDS_PER_EMBED",
    "FIELD_VALUE",
    "Pages",
    "paginate",
    "truncate",
]

EMBED_TOTAL = 6000
FIELDS_PER_EMBED = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
TITLE = 256
DESCRIPTION = 4096
FOOTER = 2048
#: What a page may hold at most, below Discord's 6,000 (room for the title and footer).
PAGE_BUDGET = 5000
#: Fields per page when nobody asks for fewer: a page stays readable.
DEFAULT_PER_PAGE = 10
TRUNCATED = "… (truncated: {} of {} characters shown)"


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters with a note saying so; and whether it was cut."""
    if len(text) <= limit:
        return text, False
    for _ in range(3):  # the note's length depends on the number it shows
        note = TRUNCATED.format(limit, len(text))
        keep = max(0, limit - len(note))
        if keep + len(note) <= limit:
            return text[:keep] + note, True
    return text[:limit], True  # pragma: no cover - a limit shorter than the note


def _code_block(text: str, limit: int) -> tuple[str, bool]:
    """``text`` in a code block of at most ``limit`` characters."""
    inner, cut = truncate(text, limit - 8)
    return f"```\n{inner}\n```", cut


@dataclass(frozen=True, slots=True)
class Item:
    """One embed field."""

    name: str
    value: str
    inline: bool = False
    code: bool = False


def paginate(
    title: str,
    items: Sequence[Item],
    *,
    description: str = "",
    per_page: int = DEFAULT_PER_PAGE,
    colour: discord.Colour | None = None,
) -> list[discord.Embed]:
    """Embeds of at most ``per_page`` fields (25 at most) and :data:`PAGE_BUDGET`
    characters each; at least one (with the description alone when there are
    no items). Each page's footer says ``page i/n`` and whether a value was
    truncated."""
    per_page = max(1, min(per_page, FIELDS_PER_EMBED))
    title, _ = truncate(title, TITLE)
    description, cut_description = truncate(description, DESCRIPTION // 2)
    pages: list[list[tuple[str, str, bool]]] = [[]]
    cuts: list[bool] = [cut_description]
    used = len(title) + len(description)
    for item in items:
        name, cut_name = truncate(item.name or "\u200b", FIELD_NAME)
        if item.code:
            value, cut_value = _code_block(item.value, FIELD_VALUE)
        else:
            value, cut_value = truncate(item.value or "\u200b", FIELD_VALUE)
        size = len(name) + len(value)
        if pages[-1] and (len(pages[-1]) >= per_page or used + size > PAGE_BUDGET):
            pages.append([])
            cuts.append(cut_description)
            used = len(title) + len(description)
        pages[-1].append((name, value, item.inline))
        cuts[-1] = cuts[-1] or cut_name or cut_value
        used += size
    embeds = []
    for number, (fields, cut) in enumerate(zip(pages, cuts, strict=True), start=1):
        embed = discord.Embed(title=title, description=description or None, colour=colour)
        for name, value, inline in fields:
            embed.add_field(name=name, value=value, inline=inline)
        footer = f"page {number}/{len(pages)}"
        if cut:
            footer += " · long values were truncated"
        embed.set_footer(text=footer)
        embeds.append(embed)
    return embeds


class Pages(discord.ui.View):
    """Shows ``embeds`` one at a time; Previous / Next buttons for the invoker only."""

    def __init__(self, embeds: Sequence[discord.Embed], owner_id: int, *, timeout: float = 600.0) -> None:
        super().__init__(timeout=timeout)
        if not embeds:
            raise ValueError("Pages needs at least one embed")
        self.embeds = list(embeds)
        self.owner_id = owner_id
        self.index = 0
        self._update_buttons()

    @property
    def first(self) -> discord.Embed:
        return self.embeds[0]

    def _update_buttons(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.embeds) - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message("These pages belong to someone else.", ephemeral=True)
        return False

    async def _show(self, interaction: discord.Interaction, index: int) -> None:
        self.index = max(0, min(index, len(self.embeds) - 1))
        self._update_buttons()
        await interaction.response.edit_message(embed=self.embeds[self.index], view=self)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary, custom_id="discobase:previous")
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button[Pages]) -> None:
        await self._show(interaction, self.index - 1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary, custom_id="discobase:next")
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[Pages]) -> None:
        await self._show(interaction, self.index + 1)


async def send_pages(interaction: discord.Interaction, embeds: Sequence[discord.Embed]) -> None:
    """Answer ``interaction`` ephemerally with the first page (and buttons if there are more)."""
    if len(embeds) == 1:
        await interaction.response.send_message(embed=embeds[0], ephemeral=True)
        return
    view = Pages(embeds, interaction.user.id)
    await interaction.response.send_message(embed=view.first, view=view, ephemeral=True)
