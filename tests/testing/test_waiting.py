"""Waiting for what a bot does: ``LocalDiscord.wait_for``, ``next_message`` and ``Person.ask``,
with a real bot on the local server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from discobase.local import EventTimeoutError, Person
from discobase.local.observe import EVENT_NAMES, gateway_event_name
from discobase.testing import Harness
from tests.testing.bots import EchoBot


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with Harness() as started:
        yield started


@pytest.fixture
async def ada(harness: Harness) -> Person:
    await harness.run_bot(EchoBot())
    person = await harness.member("ada")
    # the bot welcomes ada: wait for it, so that it cannot come between a question and its answer
    await harness.server.wait_for("message", check=lambda m: m["content"] == "welcome ada")
    return person


async def test_ask_returns_the_bots_answer_to_that_message(harness: Harness, ada: Person) -> None:
    general = harness.guild.general
    assert (await ada.ask(general, "!echo hi there"))["content"] == "hi there"
    assert (await ada.ask(general, "!echo again"))["content"] == "again"


async def test_an_answer_that_came_before_the_wait_is_found_once(harness: Harness, ada: Person) -> None:
    general = harness.guild.general
    sent = await ada.send(general, "!twice")
    await harness.server.wait_for("message", check=lambda m: m["content"] == "two")  # both are sent now
    first = await harness.server.next_message(general, after=sent)
    assert first["content"] == "one"  # "two" was returned by wait_for already
    with pytest.raises(EventTimeoutError):
        await harness.server.next_message(general, after=sent, timeout=0.2)


async def test_ask_skips_older_unread_answers(harness: Harness, ada: Person) -> None:
    general = harness.guild.general
    await ada.send(general, "!twice")
    await harness.server.wait_for("message", check=lambda m: m["content"] == "two")
    # "one" was returned by no wait, but it came before the question
    assert (await ada.ask(general, "!echo new"))["content"] == "new"
    assert (await harness.server.next_message(general))["content"] == "one"


async def test_next_message_by_author_and_channel(harness: Harness, ada: Person) -> None:
    general = harness.guild.general
    other = await harness.guild.create_channel("other")
    bob = await harness.member("bob")
    await harness.server.wait_for("message", check=lambda m: m["content"] == "welcome bob")
    await bob.send(other, "bob in #other")
    await ada.send(general, "ada in #general")
    by_bob = await harness.server.next_message(other, author=bob)
    assert by_bob["content"] == "bob in #other"
    by_ada = await harness.server.next_message(general, author=ada.id)
    assert by_ada["content"] == "ada in #general"
    await ada.send(general, "!echo from the bot")
    by_bot = await harness.server.next_message(general, author=harness.bot_account)
    assert by_bot["content"] == "from the bot"


async def test_an_answer_in_a_dm(harness: Harness, ada: Person) -> None:
    dm = await ada.dm(harness.bot_account)
    await ada.send(harness.guild.general, "!whisper")
    assert (await harness.server.next_message(dm))["content"] == "psst"


async def test_interaction_responses_are_left_to_invoke(harness: Harness, ada: Person) -> None:
    general = harness.guild.general
    result = await ada.invoke(harness.guild.id, "/add 2 3")
    assert result.content == "2 + 3 = 5"
    with pytest.raises(EventTimeoutError):
        await harness.server.next_message(general, timeout=0.2)
    # wait_for sees every message, the response included
    response = await harness.server.wait_for("MESSAGE_CREATE", check=lambda m: m["content"] == "2 + 3 = 5")
    assert response["interaction_metadata"]["user"]["id"] == str(ada.id)


async def test_wait_for_other_events(harness: Harness, ada: Person) -> None:
    sent = await ada.send(harness.guild.general, "!react")
    reaction = await harness.server.wait_for("reaction_add", check=lambda r: r["message_id"] == sent["id"])
    assert reaction["emoji"]["name"] == "👍"
    assert reaction["user_id"] == str(harness.bot_account.user_id)
    joined = await harness.server.wait_for("on_member_join")
    assert joined["user"]["username"] == "ada"


async def test_a_check_that_raises_fails_the_wait(harness: Harness, ada: Person) -> None:
    def broken(message: dict[str, object]) -> bool:
        raise KeyError("no such field")

    await ada.send(harness.guild.general, "!quiet")
    with pytest.raises(KeyError, match="no such field"):
        await harness.server.wait_for("message", check=broken, timeout=1)


async def test_a_timeout_says_what_was_awaited_and_what_happened(harness: Harness, ada: Person) -> None:
    general = harness.guild.general
    with pytest.raises(EventTimeoutError) as raised:
        await ada.ask(general, "!quiet", timeout=0.2)
    text = str(raised.value)
    assert text.startswith(f"no message by a bot in channel {general} within 0.2 s.")
    assert f"MESSAGE_CREATE in channel {general} by ada (person) '!quiet'" in text
    assert f"MESSAGE_CREATE in channel {general} by test-bot (bot) 'welcome ada'" in text
    assert isinstance(raised.value, TimeoutError)


async def test_a_timeout_before_any_event_asks_whether_the_bot_runs(harness: Harness) -> None:
    with pytest.raises(EventTimeoutError, match="is the bot running on this server"):
        await harness.server.next_message(harness.guild.general, timeout=0.1)


def test_event_names() -> None:
    assert gateway_event_name("message") == "MESSAGE_CREATE"
    assert gateway_event_name("on_message_edit") == "MESSAGE_UPDATE"
    assert gateway_event_name("GUILD_MEMBER_ADD") == "GUILD_MEMBER_ADD"
    assert set(EVENT_NAMES.values()) >= {"MESSAGE_CREATE", "INTERACTION_CREATE", "MESSAGE_REACTION_ADD"}
    with pytest.raises(ValueError, match="unknown event 'mesage'"):
        gateway_event_name("mesage")


class _Collector:
    """A dispatcher that keeps what it is given (the recorder's unit tests need no gateway)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def dispatch(self, event: str, data: dict[str, object], **where: object) -> None:
        self.sent.append(event)


async def test_the_recorder_forwards_and_keeps_only_the_latest() -> None:
    from discobase.local.observe import EventRecorder

    collector = _Collector()
    recorder = EventRecorder(collector, keep=3)
    for n in range(5):
        await recorder.dispatch("MESSAGE_CREATE", {"n": n}, guild_id=None)
    assert collector.sent == ["MESSAGE_CREATE"] * 5
    assert [e.data["n"] for e in recorder.events] == [2, 3, 4]
    assert (await recorder.wait("MESSAGE_CREATE", lambda d: True, timeout=1)).data == {"n": 2}
    recorder.clear()
    assert recorder.events == []
    with pytest.raises(EventTimeoutError, match=r"no MESSAGE_CREATE within 0\.01 s"):
        await recorder.wait("MESSAGE_CREATE", lambda d: True, timeout=0.01)
