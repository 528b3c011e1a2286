"""The /db commands as a server administrator sees them (every answer is ephemeral)."""

import asyncio
from typing import Any

import discord
from discord.ext import commands
from loguru import logger

import discobase
from discobase.local import LocalDiscord, Permission
from discobase.system import EventRecord

db = discobase.Database("shop")


@db.table
class Product(discobase.Table):
    name: str = discobase.Field(unique=True)
    price: int = 0


def show(command: str, result: Any) -> None:
    """Print what the member sees: the text, or the embed's title, description, fields and footer."""
    print(f"> {command}")
    message = result.updated or result.message
    if result.modal is not None:
        rows = result.modal["components"]
        inputs = [c["custom_id"] for row in rows for c in row.get("components", [row.get("component")])]
        print(f"  [form: {result.modal['title']}] fields {inputs}")
        return
    if message["content"]:
        print("  " + message["content"].replace("\n", "\n  "))
    for embed in message["embeds"]:
        print(f"  [{embed['title']}] {embed.get('description', '')}".rstrip())
        for field in embed.get("fields", []):
            value = field["value"].replace("```\n", "").replace("\n```", "").replace("\n", " ")
            print(f"    {field['name']}: {value}")
        print(f"  ({embed['footer']['text']})")
    buttons = [c["custom_id"] for row in message.get("components", []) for c in row.get("components", [])]
    if buttons:
        print(f"  buttons: {buttons}")


async def main() -> None:
    async with LocalDiscord(rate_limits="off") as server:
        account = server.create_bot("shop-bot")
        guild_id = server.create_guild("shop", owner=account)
        channel = server.store.guilds[guild_id].system_channel_id
        admins = server.create_role(guild_id, "admins", permissions=int(Permission.ADMINISTRATOR))
        bot = commands.Bot(command_prefix="!", intents=discord.Intents.default())
        server.attach(bot)
        await bot.login(account.token)
        await db.attach(bot)
        await bot.load_extension("discobase.cogs.admin")
        await bot.tree.sync()
        runner = asyncio.create_task(bot.connect())
        await db.wait_ready()
        await Product.insert_many([Product(name="tea", price=300), Product(name="cake", price=400)])

        ada = server.create_user("ada")
        await ada.join(guild_id, roles=[admins])

        async def run(command: str) -> Any:
            result = await ada.invoke(guild_id, command, channel=channel)
            show(command, result)
            return result

        await run("/db tables")
        await run("/db schema product")
        await run("/db find product price>=350")
        await run("/db count product")
        await run("/db find product price>=cheap")
        form = await run("/db insert product")
        show(
            "(submits name=scone, price=abc)", await ada.submit_modal(form, {"name": "scone", "price": "abc"})
        )
        form = await run("/db insert product")
        show(
            "(submits name=scone, price=250)", await ada.submit_modal(form, {"name": "scone", "price": "250"})
        )
        [scone] = await Product.find(name="scone")
        form = await run(f"/db update product {scone.record_id}")
        show("(submits price=275)", await ada.submit_modal(form, {"price": "275"}))
        asked = await run(f"/db delete product {scone.record_id}")
        show("(clicks Delete)", await ada.click(asked.message, "discobase:delete"))
        await run("/db stats")
        await run("/db version")
        await run("/db migrations")
        db.logs.attach("WARNING")  # warnings and errors are stored in _logs...
        db.tickets.attach("WARNING", app_id="shop")  # ...and become tickets
        logger.warning("stock of {} is low", "tea")
        await db.logs.flush()
        await db.tickets.flush()
        db.logs.detach()
        db.tickets.detach()
        await run("/db tickets")
        [ticket] = await db.tickets.get_tickets()
        await run(f"/db ticket solve {ticket.record_id}")
        await run("/db logs level:WARNING since:1h")
        audit = db.system_table(EventRecord)  # the _events table of this database
        rows = sorted(await audit.find(), key=lambda row: row.time)
        print("audit:", [(r.operation, (r.actor or "").split(" (")[0]) for r in rows])

        await ada.close()
        await db.close()
        await bot.close()
        await runner


asyncio.run(main())
