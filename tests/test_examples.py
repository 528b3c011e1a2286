"""Every example runs and prints what the docs say it prints.

``examples/*.py`` (and ``docs/examples/*.py``, if any) run as subprocesses,
exactly as ``python examples/<name>.py`` / ``make demo``; the docs include
them with ``--8<--``, so this is what keeps the docs and the README true.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from discobase.local.ratelimit import DISCORD_ROUTES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted([*ROOT.glob("examples/*.py"), *ROOT.glob("docs/examples/*.py")])
TIMEOUT = 60.0

#: Regular expressions each example's stdout must match (``re.MULTILINE``), by file name.
EXPECTED: dict[str, list[str]] = {
    "thirty_seconds.py": [r"^found: \['ada'\]$", r"^adults: 1$", r"^left: 0$"],
    "tutorial_models.py": [
        r"^refused: \('name',\) ada$",
        r"^red team: \['ada', 'linus'\]$",
        r"^20 points or more: \[\('grace', 50\), \('ada', 30\)\]$",
        r"^linus now has 35$",
        r"^players after reopening: 3$",
    ],
    "logs.py": [
        r"^stored: 22 records$",
        r"^first: INFO order 0 shipped \{'order': 0\}$",
        r"^warnings and errors: \[\('WARNING', 'stock of tea is low'\), \('ERROR', 'pricing failed'\)\]$",
        r"^traceback ends with: ZeroDivisionError: division by zero$",
        r"^per day: ERROR 1\nper day: INFO 20\nper day: WARNING 1$",
        r"^deleted: 20 INFO records$",
        r"^left: 2$",
    ],
    "tickets.py": [
        r"^tickets: 2$",
        r"^  WARNING seen 4x at tickets\.py:\d+, solved: False$",
        r"^  ERROR seen 1x at tickets\.py:\d+, solved: False$",
        r"^kept occurrences: \['disk 95% full', 'disk 97% full', 'disk 99% full'\]$",
        r"^open tickets after solving: 1$",
        r"^reopened: True seen 5 times$",
    ],
    "local_bot.py": [
        r"^logged in as demo-bot#\d{4} and sees guild 'demo server'$",
        r"^created channel #demo-channel \(\d+\)$",
        r"^  read back: 'hello, edited'$",
        r"^  read back: 'a file' \+ data\.bin \(900 bytes\)$",
        r"^deleted one message; 1 left in #demo-channel$",
        r"^requests per route:$",
        r"^ +2  POST /channels/\{channel_id\}/messages$",
        r"^ +1  GATEWAY IDENTIFY$",
    ],
    "local_server_basics.py": [
        r"^server at http://127\.0\.0\.1:\d+, bots: \['owner-bot', 'helper-bot'\]$",
        r"^helper-bot#\d{4} sees 'basics': \['Text Channels', 'announcements', 'general'\]$",
        r"^history: \['first', 'second'\]$",
        r"^#announcements: 403 50013 Missing Permissions$",
        r"^ +3  POST /channels/\{channel_id\}/messages$",
        r"^ +1  GATEWAY DISPATCH READY$",
    ],
    "fault_injection.py": [
        r"^500: sent after [1-9]\.\d s, 2 attempts$",
        r"^503: raised DiscordServerError \(503: Service Unavailable\)$",
        r"^429 x3: history still read: \['survived a 500'\]$",
        r"^latency: fetch took 0\.[5-9] s$",
        r"^drop: raised ServerDisconnectedError$",
        r"^gateway drop: resumed, received \['survived a 500', 'sent while the gateway drops'\]$",
        r"^counters: 5 message creates, 1 resume$",
        r"^seed 7: ([x.]{20})\nseed 7: \1\nseed 8: (?!\1)[x.]{20}$",
    ],
    "demo.py": [
        r"after three saves",
        r"find\(age=36\)",
        r"after reopening the database",
        r"^demo finished$",
    ],
    "migrations.py": [
        r"^status: RUNNING version: 1\.0\.0$",
        r"^migration 1\.1\.0 converted 2 prices to cents$",
        r"^status: RUNNING version: 1\.1\.0$",
        r"^products: \[\('cake', 400\), \('tea', 300\)\]$",
        r"^cheaper than 3\.50: \['tea'\]$",
        r"^without arguments: \[\]$",
        r"^refused: the database 'discobase migrations' is at version 1\.1\.0, "
        r"newer than this program's 1\.0\.0",
    ],
    "record_migration.py": [r"^after migration: \[\('ada', 'lovelace'\), \('alan', 'turing'\)\]$"],
    "events.py": [
        r"^open on None: done$",
        r"^  save on note: POST /channels/\{channel_id\}/messages ok \(\d+ bytes sent\)$",
        r"^find on note: done$",
        r"\('save', 'POST /channels/\{channel_id\}/messages'\), "
        r"\('update', 'POST /channels/\{channel_id\}/messages'\)\]$",
    ],
    "logs_api.py": [
        r"^warnings: \['disk almost full'\]$",
        r"^counts: \[\('INFO', 3\), \('WARNING', 1\)\]$",
        r"^left: 0$",
        r"^tickets: 1$",
    ],
    "queries.py": [
        r"^adults: \['ada', 'cy', 'bob'\]$",
        r"^in Oslo: \['bob'\]$",
        r"^by id: ada None$",
        r"^refused: \('email',\) ada@x\.org$",
        r"^query error: cannot compare User\.age",
        r"^left: \[\('ada', 37\), \('bob', 25\), \('cy', 37\)\]$",
        r"^typed: \['ada', 'cy'\]$",
        r"^ada now: 38 \['chess'\]$",
        r"^everyone older: 3$",
        r"^get_or_create: True False True$",
        r"^upsert: robert 26 1$",
    ],
    "seed_usage.py": [
        r"^found: \['Peter'\]$",
        r"^after delete: \[\]$",
    ],
    "rate_limits.py": [
        r"^discord, headers on : 8 messages in ([4-9]|1\d)\.\d s, 8 attempts, 0 429s$",
        r"^discord, headers off: 8 messages in ([4-9]|1\d)\.\d s, 9 attempts, 1 429s$",
        r"^2 per 1 s, headers off: 8 messages in ([2-9]|1\d)\.\d s, 11 attempts, 3 429s$",
    ],
    "leveling_bot.py": [
        r"^rank: ada: level 1, 120 XP, #1 on the server$",
        r"^rank of bob: bob: level 0, 40 XP, #2 on the server$",
        r"^top: 1\. ada: level 1 \(120 XP\) \| 2\. bob: level 0 \(40 XP\)$",
        r"^level-ups announced: 1$",
        r"^logins: 1 gateway sessions: 1$",
        r"^bot still running after db\.close\(\): True$",
    ],
    "attach_bot.py": [
        r"^database open in my server \| bot: my-bot#\d{4}$",
        r"^saved note True$",
        r"^guild is a discord\.Guild: True$",
        r"^logins: 1 \| gateway sessions: 1$",
        r"^bot still running: True$",
    ],
    "admin_cogs.py": [
        r"^> /db tables\n  \[Tables of shop\]\n    product: 2 records · 2 fields$",
        r"^    name: `str` · required · unique\n    price: `int` · default `0`$",
        r"^  \[product: find\] 1 record\(s\) match `price>=350`\n"
        r"    #\d+: \{  \"name\": \"cake\",  \"price\": 400 \}$",
        r"^> /db count product\n  product: 2 record\(s\)\.$",
        r"^  cannot compare Product\.price with 'cheap': Input should be a valid integer",
        r"^  \[form: New product\] fields \['name', 'price'\]$",
        r"^  • price: Input should be a valid integer",
        r"^  Inserted record \d+ in product:$",
        r"^  \[form: Edit product \d+\] fields \['name', 'price'\]$",
        r"^  Updated record \d+ in product:$",
        r"^  buttons: \['discobase:delete', 'discobase:cancel'\]$",
        r"^> \(clicks Delete\)\n  Deleted record \d+ from product\.$",
        r"^    product: 2 records · 2 messages · 2 channels no snapshot yet$",
        r"^  discobase \S+ · database shop: no version set, status RUNNING$",
        r"^  \[Migrations\] No migrations\.$",
        r"^  \[Tickets\] 1 open or solved ticket\(s\)\n"
        r"    #\d+ WARNING open: \S*admin_cogs\.py:\d+ \(admin_cogs\) · seen 1 times · last ",
        r"^> /db ticket solve (\d+)\n  Ticket \1 is solved\.$",
        r"^  \[Logs\] 1 record\(s\) at WARNING or above since .*\n"
        r"    \S+ \S+ WARNING: stock of tea is low \(admin_cogs:\d+\)$",
        r"^audit: \[\('/db insert', 'ada'\), \('/db update', 'ada'\), \('/db delete', 'ada'\), "
        r"\('/db ticket solve', 'ada'\)\]$",
    ],
    "standalone_server.py": [
        r"^discobase#\d{4} sees 'discobase' with \['general'\]$",
        r"^sent message \d+ to #general$",
        r"^server exited with 0$",
    ],
}


def run_example(path: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``python <path>`` from the repository root; its whole process group dies on timeout.

    The embedded local server keeps its data in ``data_dir`` (not in the repository).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["DISCOBASE_DATA_DIR"] = str(data_dir)
    with subprocess.Popen(
        [sys.executable, str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that servers it starts are killed with it
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"{path.name} did not finish within {TIMEOUT} s\n{stdout}\n{stderr}")
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path: Path, tmp_path: Path) -> None:
    result = run_example(path, tmp_path)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.stdout.strip(), f"{path.name} printed nothing"
    for pattern in EXPECTED.get(path.name, []):
        assert re.search(pattern, result.stdout, re.MULTILINE), f"{pattern!r} not in:\n{result.stdout}"


def test_every_expectation_has_an_example() -> None:
    assert set(EXPECTED) <= {p.name for p in EXAMPLES}


LOCAL_SERVER_PAGE = ROOT / "docs" / "local-server.md"


def test_local_server_page_python_examples_are_included_files() -> None:
    """Each Python block of the local-server guide is an ``--8<--`` include of a tested file."""
    text = LOCAL_SERVER_PAGE.read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert blocks
    tested = {str(p.relative_to(ROOT)) for p in EXAMPLES}
    for block in blocks:
        included = re.fullmatch(r'--8<-- "([^"]+)"\n', block)
        assert included is not None, f"inline Python in {LOCAL_SERVER_PAGE.name}:\n{block}"
        assert included.group(1) in tested, included.group(1)


def test_local_server_page_lists_the_discord_buckets() -> None:
    """The rate-limit table of the guide matches ``DISCORD_ROUTES``."""
    text = LOCAL_SERVER_PAGE.read_text()
    for rule in DISCORD_ROUTES:
        bucket = rule.bucket
        row = re.search(rf"^\| `{re.escape(bucket.name)}` \| (\d+) \| ([\d.]+) s \|", text, re.MULTILINE)
        assert row is not None, f"bucket {bucket.name} is not in the table"
        assert (int(row.group(1)), float(row.group(2))) == (bucket.limit, bucket.per), bucket.name
