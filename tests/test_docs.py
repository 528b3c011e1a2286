"""The documentation: the README's code is the tested example, the CLI reference is
generated, raw Sphinx roles are rewritten, and the built site looks right in a browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import typer.main
from tools.docs_hooks import CLI_MARKER, cli_reference, on_page_markdown, replace_roles

from discobase.cli import app

ROOT = Path(__file__).resolve().parent.parent
#: The pages a reader starts from.
MAIN_PAGES = [
    "index.html",
    "quickstart/index.html",
    "cli/index.html",
    "storage/index.html",
    "reference/discobase/index.html",
]


def test_readme_shows_the_thirty_second_example_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = (ROOT / "docs" / "examples" / "thirty_seconds.py").read_text(encoding="utf-8")
    assert f"```python\n{example}```" in readme  # tests/test_examples.py runs the file
    assert "--8<--" not in readme  # GitHub shows the README as it is: no snippet lines


def test_the_cli_reference_lists_every_command() -> None:
    text = on_page_markdown(f"# CLI\n\n{CLI_MARKER}\n")
    assert CLI_MARKER not in text
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    for name, command in group.commands.items():
        assert f"`discobase {name}`" in text
        if isinstance(command, typer.core.TyperGroup):
            for sub in command.commands:
                assert f"`discobase {name} {sub}`" in text
    assert "<bool>" not in cli_reference()
    assert "--json" in text


def test_sphinx_roles_become_code() -> None:
    html = (
        "<p>A :class:<code>~discobase.storage.transport.Transport</code>"
        " or :meth:<code>Database.close</code>.</p>"
    )
    assert replace_roles(html) == "<p>A <code>Transport</code> or <code>Database.close</code>.</p>"


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.extend(value for key, value in attrs if key == "src" and value)


@pytest.mark.skipif(
    chromium() is None, reason="no Chromium binary (the Debian package chromium) on this machine"
)
def test_the_built_site_renders_in_headless_chromium(tmp_path: Path) -> None:
    """The main pages as a browser shows them (scripts run): no broken image, no raw
    Sphinx role, no snippet line."""
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    browser = chromium()
    assert browser is not None
    for page in MAIN_PAGES:
        path = site / page
        dom = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", path.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        text = re.sub(r"<[^>]+>", " ", dom)
        assert "--8<--" not in text, page
        assert not re.search(r":(class|meth|func|attr|mod|exc|data):`?\s*~?[\w.]+", text), page
        images = _Images()
        images.feed(dom)
        for source in images.sources:
            if source.startswith(("http:", "https:", "data:")):
                continue
            assert (path.parent / source.split("#")[0]).resolve().exists(), f"{page}: broken image {source}"
