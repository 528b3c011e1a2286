"""A soak writer process: ``python -m tests.soak.writer CONFIG.json``.

Several tasks do seeded random saves, updates, deletes and ``insert_many`` on
the shared tables; every operation is journaled before it is sent and after it
settles (see :mod:`tests.soak.journal`). Each task owns the keys it made, so
the operations on one logical record are sequential and their order is the
journal's. The writer closes and reopens its database now and then, and, when
restarted after a kill -9, picks up where its journal ends: records it knows
live are found again (one that is not is journaled as ``missing``), and an
insert left ambiguous is looked up and, if absent, tried again with the same
key (a careful user's retry; a duplicate then means the first one was stored
but an opener did not see it).

Control files in ``control`` (made by the harness): ``quiesce`` stops new
operations (the writer then writes its view to ``view-<wid>.json`` every half
second), ``exit`` closes the database and ends the process.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discobase
from discobase.exceptions import DatabaseLookupError, DiscobaseError, UniqueViolationError
from tests.soak.journal import Journal, read_journal
from tests.soak.models import ACCOUNTS, ITEMS, TABLES, Tables, account_values, attach, item_values

GUILD = "soak"


@dataclass
class Live:
    """A record this writer owns and may update or delete."""

    table: str
    key: str
    values: dict[str, Any]
    rid: int
    instance: Any = None


@dataclass
class Recovered:
    """What the journal says about the previous incarnations."""

    counter: int = 0
    live: dict[str, Live] = field(default_factory=dict)
    retry: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # key -> (table, values)


def recover(events: list[dict[str, Any]]) -> Recovered:
    """Keys and their state from earlier incarnations (the writer's own journal)."""
    state = Recovered()
    intents: dict[str, dict[str, Any]] = {}
    outcome: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["ev"] == "intent":
            intents[event["op"]] = event
        elif event["ev"] in ("ack", "reject", "fail", "many"):
            outcome[event["op"]] = event
    last: dict[str, tuple[str, dict[str, Any], str, int | None]] = {}  # key -> (table, values, status, rid)
    for event in events:
        if event["ev"] == "intent":
            if event["kind"] == "insert_many":
                result = outcome.get(event["op"])
                rids = dict(result["results"]) if result is not None else {}
                for item in event["items"]:
                    key = item["key"]
                    state.counter = max(state.counter, int(key.rsplit("-", 1)[1]) + 1)
                    rid = rids.get(key)
                    status = "live" if rid is not None else "ambiguous-insert"
                    last[key] = (event["table"], item["values"], status, rid)
                continue
            key = event["key"]
            state.counter = max(state.counter, int(key.rsplit("-", 1)[1]) + 1)
            result = outcome.get(event["op"])
            kind = event["kind"]
            previous = last.get(key)
            if result is None or result["ev"] == "fail":
                status = "ambiguous-insert" if kind == "insert" else "ambiguous"
                last[key] = (event["table"], event["values"], status, previous[3] if previous else None)
            elif result["ev"] == "reject":
                if kind == "insert":
                    last[key] = (event["table"], event["values"], "dead", None)
                # a refused update or delete leaves the record as it was
            elif kind == "delete":
                last[key] = (event["table"], event["values"], "dead", None)
            else:
                rid = result.get("rid", previous[3] if previous else None)
                last[key] = (event["table"], event["values"], "live", rid)
        elif event["ev"] in ("missing", "abandon"):
            table, values, _, rid = last.get(event["key"], (event["table"], {}, "", None))
            last[event["key"]] = (table, values, "dead", rid)
        elif event["ev"] == "adopt":
            last[event["key"]] = (event["table"], event["values"], "live", event["rid"])
    for key, (table, values, status, rid) in last.items():
        if status == "live" and rid is not None:
            state.live[key] = Live(table, key, values, rid)
        elif status == "ambiguous-insert":
            state.retry[key] = (table, values)
    return state


class Writer:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.wid: str = config["wid"]
        self.incarnation: int = config["incarnation"]
        self.rng = random.Random(f"{config['seed']}/{self.wid}/{self.incarnation}")
        #: One generator per task, so that a task's operations do not depend on the others' timing.
        self.rngs = [
            random.Random(f"{config['seed']}/{self.wid}/{self.incarnation}/{t}")
            for t in range(config["tasks"])
        ]
        self.control = Path(config["control"])
        self.journal_path = Path(config["journal"])
        self.journal = Journal(self.journal_path)
        self.db: discobase.Database | None = None
        self.tables: Tables | None = None
        self.gate = asyncio.Event()
        self.inflight = 0
        self.idle = asyncio.Event()  # set while no operation is in flight
        self.idle.set()
        self.ops = 0
        self.failures = 0
        self.stopping = False
        self.live: dict[int, dict[str, Live]] = {t: {} for t in range(config["tasks"])}
        self.counter = 0
        self.retry: dict[str, tuple[str, dict[str, Any]]] = {}

    # ------------------------------------------------------------------ helpers
    def new_key(self) -> str:
        key = f"{self.wid}-{self.counter}"
        self.counter += 1
        return key

    def new_op(self) -> str:
        self.ops += 1
        return f"{self.wid}.{self.incarnation}.{self.ops}"

    def flag(self, name: str) -> bool:
        return (self.control / name).exists()

    # ------------------------------------------------------------------ open and close
    async def open(self) -> None:
        """Connect (retrying while the server is away, within bounds) and find our records again."""
        config = self.config
        deadline = time.monotonic() + config.get("open_timeout", 90.0)
        while True:
            db = discobase.Database(
                GUILD,
                server_url=config["url"],
                snapshot_every=config["snapshot_every"],
                data_channels=config["data_channels"],
                on_corruption="skip",
            )
            tables = attach(db)
            task = db.login_task(config["token"])
            try:
                await asyncio.wait_for(db.wait_ready(), 45)
                break
            except (DiscobaseError, TimeoutError, OSError) as error:
                if not task.done():
                    task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                if db.open:
                    await asyncio.gather(db.close(), return_exceptions=True)
                if time.monotonic() > deadline:
                    raise
                self.journal.write("open_failed", error=f"{type(error).__name__}: {error}")
                await asyncio.sleep(0.5)
        self.db, self.tables = db, tables
        self.journal.write("opened", inc=self.incarnation)
        for lives in self.live.values():
            for key, live in list(lives.items()):
                found = await tables.by_name(live.table).find(key=key)
                if len(found) != 1:
                    self.journal.write("missing", table=live.table, key=key, found=len(found))
                    del lives[key]
                    continue
                live.instance = found[0]
                live.rid = found[0].record_id or live.rid
                live.values = found[0].model_dump(mode="json")

    async def close(self) -> None:
        db, self.db = self.db, None
        if db is not None and db.open:
            try:
                await asyncio.wait_for(db.close(), 60)
            except (DiscobaseError, TimeoutError, OSError) as error:
                self.journal.write("close_failed", error=f"{type(error).__name__}: {error}")

    async def reopen(self) -> None:
        self.gate.clear()
        await self.idle.wait()
        self.journal.write("reopen")
        await self.close()
        await self.open()
        self.gate.set()

    # ------------------------------------------------------------------ operations
    def settle(self, op: str, error: BaseException | None, **fields: Any) -> str:
        if error is None:
            self.journal.write("ack", op=op, **fields)
            return "ack"
        self.failures += 1
        text = f"{type(error).__name__}: {error}"[:300]
        definite = isinstance(error, UniqueViolationError | DatabaseLookupError)
        self.journal.write("reject" if definite else "fail", op=op, error=text)
        return "reject" if definite else "fail"

    async def insert(
        self, task: int, table: str, key: str | None = None, values: dict[str, Any] | None = None
    ) -> None:
        assert self.tables is not None
        key = key or self.new_key()
        if values is None:
            values = self.fresh_values(self.rngs[task], table, key, 0)
        op = self.new_op()
        self.journal.write("intent", op=op, kind="insert", table=table, key=key, values=values)
        instance = self.tables.by_name(table)(**values)
        error: BaseException | None = None
        try:
            await instance.save()
        except Exception as caught:
            error = caught
        if self.settle(op, error, rid=instance.record_id) == "ack":
            assert instance.record_id is not None
            self.live[task][key] = Live(table, key, values, instance.record_id, instance)

    async def insert_many(self, task: int) -> None:
        assert self.tables is not None
        rng = self.rngs[task]
        count = rng.randint(2, self.config.get("many_max", 8))
        items = []
        for _ in range(count):
            key = self.new_key()
            items.append({"key": key, "values": self.fresh_values(rng, ITEMS, key, 0)})
        op = self.new_op()
        self.journal.write("intent", op=op, kind="insert_many", table=ITEMS, items=items)
        instances = [self.tables.items(**item["values"]) for item in items]
        error: str | None = None
        try:
            await self.tables.items.insert_many(instances)
        except Exception as caught:
            error = f"{type(caught).__name__}: {caught}"[:300]
        results = [[item["key"], inst.record_id] for item, inst in zip(items, instances, strict=True)]
        self.journal.write("many", op=op, results=results, error=error)
        for item, instance in zip(items, instances, strict=True):
            if instance.record_id is not None:
                self.live[task][item["key"]] = Live(
                    ITEMS, item["key"], item["values"], instance.record_id, instance
                )

    async def update(self, task: int, live: Live) -> None:
        rng = self.rngs[task]
        values = dict(live.values)
        values["v"] += 1
        if live.table == ITEMS:
            values["pad"] = item_values(rng, live.key, self.wid, 0, self.config["big"])["pad"]
        else:
            values["email"] = account_values(rng, live.key, self.wid, 0, self.config["pool"])["email"]
        op = self.new_op()
        self.journal.write(
            "intent", op=op, kind="update", table=live.table, key=live.key, rid=live.rid, values=values
        )
        instance = live.instance
        for name, value in values.items():
            setattr(instance, name, value)
        error: BaseException | None = None
        try:
            await instance.update()
        except Exception as caught:
            error = caught
        outcome = self.settle(op, error, rid=live.rid)
        if outcome == "ack":
            live.values = values
        elif outcome == "reject" and isinstance(error, UniqueViolationError):
            for name, value in live.values.items():  # as stored
                setattr(instance, name, value)
        else:  # ambiguous, or the record is not in our view: leave it alone from now on
            del self.live[task][live.key]

    async def delete(self, task: int, live: Live) -> None:
        op = self.new_op()
        self.journal.write(
            "intent", op=op, kind="delete", table=live.table, key=live.key, rid=live.rid, values=live.values
        )
        error: BaseException | None = None
        try:
            await live.instance.delete()
        except Exception as caught:
            error = caught
        self.settle(op, error, rid=live.rid)
        del self.live[task][live.key]

    def fresh_values(self, rng: random.Random, table: str, key: str, v: int) -> dict[str, Any]:
        if table == ITEMS:
            return item_values(rng, key, self.wid, v, self.config["big"])
        return account_values(rng, key, self.wid, v, self.config["pool"])

    async def step(self, task: int) -> None:
        config = self.config
        rng = self.rngs[task]
        if self.retry:
            key = next(iter(self.retry))
            table, values = self.retry.pop(key)
            await self.insert(task, table, key, values)
            return
        table = ACCOUNTS if rng.random() < config["p_accounts"] else ITEMS
        mine = [live for live in self.live[task].values() if live.table == table]
        roll = rng.random() * (config["p_insert"] + config["p_update"] + config["p_delete"])
        if not mine or roll < config["p_insert"]:
            if table == ITEMS and rng.random() < config["p_many"]:
                await self.insert_many(task)
            else:
                await self.insert(task, table)
        elif roll < config["p_insert"] + config["p_update"]:
            await self.update(task, rng.choice(mine))
        else:
            await self.delete(task, rng.choice(mine))

    async def run_task(self, task: int) -> None:
        config = self.config
        while not self.stopping and self.ops < config["max_ops"]:
            await self.gate.wait()
            if self.stopping:
                return
            self.inflight += 1
            self.idle.clear()
            failures = self.failures
            failed = False
            try:
                await self.step(task)
            except Exception as error:  # a bug of the writer itself: say so, keep going
                self.journal.write("writer_error", error=f"{type(error).__name__}: {error}"[:300])
                failed = True
            finally:
                self.inflight -= 1
                if not self.inflight:
                    self.idle.set()
            failed = failed or self.failures > failures
            await asyncio.sleep(self.rngs[task].uniform(0, config["think"]) + (0.2 if failed else 0))

    # ------------------------------------------------------------------ views
    async def view(self) -> dict[str, list[list[Any]]]:
        assert self.tables is not None
        result: dict[str, list[list[Any]]] = {}
        for name in TABLES:
            records = await self.tables.by_name(name).find()
            result[name] = sorted(
                ([r.key, r.record_id, r.model_dump(mode="json")] for r in records),  # type: ignore[attr-defined]
                key=lambda row: (row[0], row[1]),
            )
        return result

    def write_view(self, seq: int, tables: dict[str, list[list[Any]]]) -> None:
        path = self.control / f"view-{self.wid}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"wid": self.wid, "inc": self.incarnation, "seq": seq, "tables": tables})
        )
        temporary.replace(path)

    # ------------------------------------------------------------------ main
    async def main(self) -> None:
        config = self.config
        started = time.monotonic()
        lifetime = config.get("max_lifetime", 600.0)
        earlier = read_journal(self.journal_path)
        self.journal.write("start", wid=self.wid, inc=self.incarnation, pid=os.getpid())
        recovered = recover(earlier)
        self.counter = recovered.counter
        for index, (key, live) in enumerate(sorted(recovered.live.items())):
            self.live[index % config["tasks"]][key] = live
        await self.open()
        assert self.tables is not None
        if config.get("retry_ambiguous", True):
            for key, (table, values) in recovered.retry.items():
                found = await self.tables.by_name(table).find(key=key)
                if found:
                    record = found[0]
                    self.journal.write(
                        "adopt",
                        table=table,
                        key=key,
                        rid=record.record_id,
                        values=record.model_dump(mode="json"),
                    )
                    live = Live(table, key, record.model_dump(mode="json"), record.record_id or 0, record)
                    self.live[int(key.rsplit("-", 1)[1]) % config["tasks"]][key] = live
                else:
                    self.retry[key] = (table, values)
        self.gate.set()
        tasks = [asyncio.create_task(self.run_task(t)) for t in range(config["tasks"])]
        low, high = config.get("reopen_every") or (0, 0)
        next_reopen = time.monotonic() + self.rng.uniform(low, high) if high else float("inf")
        while not self.flag("quiesce") and time.monotonic() - started < lifetime:
            if all(t.done() for t in tasks):
                break
            if time.monotonic() >= next_reopen:
                await self.reopen()
                next_reopen = time.monotonic() + self.rng.uniform(low, high)
            await asyncio.sleep(0.05)
        self.stopping = True
        self.gate.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.journal.write("quiesced", ops=self.ops)
        seq = 0
        while not self.flag("exit") and time.monotonic() - started < lifetime:
            try:
                self.write_view(seq, await self.view())
            except DiscobaseError as error:
                self.journal.write("view_failed", error=str(error)[:300])
            seq += 1
            await asyncio.sleep(0.5)
        await self.close()
        self.journal.write("exit")


def share_worker(worker: int) -> None:
    """Make every record-id generator made from now on in this process use ``worker``
    (a test knob: the writers then draw the same worker bits, as two processes do
    once in 1024 pairs)."""
    from discobase.storage import ids

    original = ids.IdGenerator.__init__

    def __init__(self: ids.IdGenerator, *args: Any, **kwargs: Any) -> None:
        if not args and kwargs.get("worker") is None:
            kwargs["worker"] = worker
        original(self, *args, **kwargs)

    ids.IdGenerator.__init__ = __init__  # type: ignore[method-assign]


def _log_to_stderr() -> None:
    """``SOAK_LOG_LEVEL=DEBUG``: discobase's own log in the writer's log file."""
    level = os.environ.get("SOAK_LOG_LEVEL")
    if level:
        from loguru import logger

        logger.enable("discobase")
        logger.add(sys.stderr, level=level, format="{time:HH:mm:ss.SSS} {level} {message}")


def main() -> None:
    _log_to_stderr()
    config = json.loads(Path(sys.argv[1]).read_text())
    if config.get("shared_worker") is not None:
        share_worker(int(config["shared_worker"]))
    asyncio.run(Writer(config).main())


if __name__ == "__main__":
    main()
