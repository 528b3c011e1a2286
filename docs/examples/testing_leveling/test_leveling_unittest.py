# unittest's own assertions, as a unittest test writes them:
# ruff: noqa: PT009
"""The same kind of test without pytest: ``unittest.IsolatedAsyncioTestCase`` and a Harness
(run with ``python -m unittest``; pytest runs it too)."""

import unittest

from leveling_bot import LevelingBot, db

from discobase.testing import Harness


class LevelingBotTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        # A fresh local server per test; its guild has the name the bot's database looks for.
        self.harness = await self.enterAsyncContext(Harness(guild_name=db.name))
        self.bot = await self.harness.run_bot(LevelingBot(cooldown=0))  # once its database is open
        self.ada = await self.harness.member("ada")

    async def test_rank_counts_messages(self) -> None:
        general = self.harness.guild.general
        assert self.bot.user is not None  # the bot's own user, set once it logged in
        await self.ada.send(general, "hello")
        reply = await self.ada.ask(general, f"{self.bot.user.mention} rank")
        self.assertEqual(reply["content"], "ada: level 0, 10 XP, #1 on the server")

    async def test_rank_slash_command(self) -> None:
        result = await self.ada.invoke(self.harness.guild.id, "/rank")
        self.assertEqual(result.content, "ada has no XP yet.")
        self.assertTrue(result.ephemeral)


if __name__ == "__main__":
    unittest.main()
