"""Decoding the JSON a client sends, with a bound on how deeply it nests.

Every piece of JSON the local server reads from the outside goes through
:func:`decode`: REST bodies, the ``payload_json`` part of multipart uploads,
the ``/_local/`` admin API and gateway frames.

:func:`json.loads` recurses once per nesting level, so a body such as
``[[[[...]]]]`` nested about a thousand deep raises :class:`RecursionError`
(not a :class:`ValueError`) and, below that, a few hundred levels still reach
code that walks the value recursively (message components are echoed back
with ids filled in, payloads are serialised again for the gateway). Nothing a
Discord client sends nests anywhere near that deep: a message with
Components V2 containers or a command with sub-command groups stays under
about a dozen levels. Anything deeper than :data:`MAX_JSON_DEPTH` is refused
as undecodable JSON, the way a body the parser cannot read is refused: a REST
route answers 400 with JSON error code 50109 "The request body contains
invalid JSON." (https://docs.discord.com/developers/topics/opcodes-and-status-codes#json)
and the gateway closes with 4002 "Decode error"
(https://docs.discord.com/developers/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes).
Discord does not document a nesting limit of its own; the bound here only
has to be far above anything real and far below Python's recursion limit.
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = ["MAX_JSON_DEPTH", "UndecodableJSON", "decode", "nesting_exceeds"]

#: Deepest nesting of arrays and objects accepted (``[]`` is depth 1, ``[[]]`` depth 2).
MAX_JSON_DEPTH: Final = 64


class UndecodableJSON(ValueError):
    """The input is not JSON this server accepts (malformed, not UTF-8, or nested too deeply)."""


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` (a decoded JSON value) nests arrays/objects deeper than ``limit``.

    Iterative, so it works on values of any depth without recursing.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def decode(raw: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value in ``raw``; :class:`UndecodableJSON` if it cannot be used.

    Malformed JSON, bytes that are not text, numbers too long for ``int`` and
    nesting deeper than ``max_depth`` are all refused the same way.
    """
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise UndecodableJSON(type(error).__name__) from None
    if nesting_exceeds(value, max_depth):
        raise UndecodableJSON(f"nested deeper than {max_depth}")
    return value
