"""discord.py extensions shipped with discobase (``discobase.cogs``).

- :mod:`discobase.cogs.admin`: the ``/db`` slash commands to look at and
  change a database from Discord (``await bot.load_extension("discobase.cogs.admin")``,
  or ``Database(..., cogs=True)``).
"""
