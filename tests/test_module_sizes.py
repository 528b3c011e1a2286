"""Every module of the package stays small enough to have one job (about 600 lines at most)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 600

#: Modules still over the limit, each with the reason; a module leaves this list when it is split.
KNOWN_LARGE: dict[str, str] = {}


def module_sizes() -> dict[str, int]:
    """Lines per Python module of the package and of the shipped cogs, by path from the root."""
    paths = [*(ROOT / "src" / "discobase").rglob("*.py"), *(ROOT / "cogs").rglob("*.py")]
    return {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in paths
    }


def test_no_module_is_over_the_limit() -> None:
    sizes = module_sizes()
    assert "src/discobase/database.py" in sizes
    assert "src/discobase/local/gateway/hub.py" in sizes
    too_large = {path: n for path, n in sizes.items() if n > LIMIT and path not in KNOWN_LARGE}
    assert not too_large, f"split these modules by job (at most {LIMIT} lines each): {too_large}"


def test_the_local_servers_split_modules_keep_their_old_import_paths() -> None:
    """The modules split into packages or siblings still export what they exported."""
    from discobase.local import gateway, ratelimit, server, store
    from discobase.storage import discord_transport

    assert {"GatewayHub", "GatewayIdentity", "GatewaySession", "make_encoder"} <= set(gateway.__all__)
    assert {"RateLimiter", "RateLimitProfile", "Decision", "DISCORD_ROUTES"} <= set(ratelimit.__all__)
    assert {"LocalDiscord", "attach"} <= set(server.__all__)
    assert {"Store", "BotAccount", "Message", "hash_token"} <= set(store.__all__)
    assert {"DiscordTransport", "message_from_payload", "channel_from_payload"} <= set(
        discord_transport.__all__
    )
    for module in (gateway, ratelimit, server, store, discord_transport):
        assert all(hasattr(module, name) for name in module.__all__), module.__name__
