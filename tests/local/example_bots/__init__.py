"""Minimal copies of discord.py's example bots (``examples/`` of https://github.com/Rapptz/discord.py,
MIT licence, Copyright (c) 2015-present Rapptz), each wrapped in a factory instead of
``client.run('token')`` and with the ids the originals leave as ``0`` passed in. Their
behaviour is otherwise as in the originals; ``test_example_bots`` drives them with people.
"""
