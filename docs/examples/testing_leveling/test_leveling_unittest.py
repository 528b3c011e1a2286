# unittest's own assertions, as a unittest test writes them:
# ruff: noqa: PT009
"""The same kind of test without pytest: ``unittest.IsolatedAsyncioTestCase`` and a Harness
(run with ``python -m unittest``; pytest runs it too)."""

import unittest

from leveling_bot import LevelingBot, db

from discobase.testing import Harness


class LevelingBotTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.harness = await self.enterAsyncContext(Harness())  # a fresh local server per test
        await self.harness.open_database(db)
        await self.harness.run_bot(LevelingBot())
        self.ada = await self.harness.member("ada")

    async def test_rank_counts_messages(self) -> None:
        general = self.harness.guild.general
        await self.ada.send(general, "hello")
        reply = await self.ada.ask(general, "!rank")
        self.assertEqual(reply["content"], "ada is level 0 with 10 XP")

    async def test_rank_slash_command(self) -> None:
        result = await self.ada.invoke(self.harness.guild.id, "/rank")
        self.assertEqual(result.content, "ada is level 0 with 0 XP")
        self.assertTrue(result.ephemeral)


if __name__ == "__main__":
    unittest.main()
