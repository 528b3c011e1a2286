"""The core install without its extras: ``cli`` (typer, rich) and ``crypto`` (cryptography).

Each case runs in a child interpreter where importing the extra's packages
fails, as in an environment that installed ``discobase`` alone.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

#: Makes every import of the named top-level packages fail, as if they were not installed.
BLOCKER = textwrap.dedent(
    """
    import sys

    class Missing:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Missing())
    """
)


def run_without(packages: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    script = f"BLOCKED = {packages!r}\n" + BLOCKER + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_orm_works_without_cryptography_and_a_key_names_the_extra() -> None:
    result = run_without(
        ("cryptography",),
        """
        import asyncio
        import discobase
        from discobase.storage.memory import MemoryTransport

        db = discobase.Database("plain", transport=MemoryTransport(guilds=["plain"]))

        @db.table
        class Note(discobase.Table):
            text: str

        async def main():
            async with db.conn():
                await Note(text="stored").save()
                print("FOUND", [n.text for n in await Note.find()])

        asyncio.run(main())
        try:
            discobase.Database("secret", key=bytes(32), transport=MemoryTransport(guilds=["secret"]))
        except discobase.DiscobaseError as error:
            print("BYTES", error)

        async def passphrase():
            transport = MemoryTransport(guilds=["secret"])
            db = discobase.Database("secret", key="a passphrase", transport=transport)
            try:
                async with db.conn():
                    pass
            except discobase.DiscobaseError as error:
                print("PASSPHRASE", error)

        asyncio.run(passphrase())
        assert "cryptography" not in sys.modules
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "FOUND ['stored']" in result.stdout
    lines = result.stdout.splitlines()
    assert any(line.startswith("BYTES") and 'pip install "discobase[crypto]"' in line for line in lines)
    assert any(line.startswith("PASSPHRASE") and 'pip install "discobase[crypto]"' in line for line in lines)


def test_the_command_names_the_cli_extra_when_typer_or_rich_is_missing() -> None:
    for missing in (("typer",), ("rich",)):
        result = run_without(missing, "from discobase.cli import main\nmain()\n")
        assert result.returncode == 1, result.stderr
        assert "the discobase command needs the cli extra" in result.stderr
        assert 'pip install "discobase[cli]"' in result.stderr
        assert "Traceback" not in result.stderr


def test_a_progress_bar_without_rich_is_no_bar() -> None:
    result = run_without(
        ("rich",),
        """
        from discobase.engine.progress import OperationProgress

        with OperationProgress(True, 3, "inserting") as progress:
            for _ in range(3):
                progress.advance()
        print("DONE", progress.done, progress.bar)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "DONE 3 None" in result.stdout
