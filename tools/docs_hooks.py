"""mkdocs hooks (``hooks:`` in mkdocs.yml): what the docs site computes at build time.

- ``<!-- discobase-cli-reference -->`` in a page becomes the reference of every
  ``discobase`` command, generated from the typer application, so it cannot
  fall behind the code.
- Sphinx roles in docstrings (``:class:`~discobase.Table```), which the API
  reference would otherwise show as they are written, become code: the
  qualified name, or its last part with the ``~`` prefix.
"""

from __future__ import annotations

import re
from typing import Any

CLI_MARKER = "<!-- discobase-cli-reference -->"
#: A Sphinx role as the Markdown renderer leaves it: the role, then the target as code.
ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|data|exc|obj|const|ref):<code>(~?)([^<]+)</code>")

__all__ = ["CLI_MARKER", "ROLE", "cli_reference", "on_page_content", "on_page_markdown", "replace_roles"]


def cli_reference() -> str:
    """Markdown for every ``discobase`` command (typer's own docs generator)."""
    import typer.cli
    import typer.main

    from discobase.cli import app

    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="discobase")
    text: str = typer.cli.get_docs_for_click(obj=command, ctx=ctx, name="discobase", indent=1)
    return text


def replace_roles(html: str) -> str:
    """``:class:<code>~a.b.C</code>`` → ``<code>C</code>``; without ``~``, the full name."""

    def code(match: re.Match[str]) -> str:
        short, target = match.group(1), match.group(2).strip()
        shown = target.rsplit(".", 1)[-1] if short else target
        return f"<code>{shown}</code>"

    return ROLE.sub(code, html)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if CLI_MARKER in markdown:
        return markdown.replace(CLI_MARKER, cli_reference())
    return markdown


def on_page_content(html: str, **kwargs: Any) -> str:
    return replace_roles(html)
