"""Which records' JSON provably validates again, so that saving can skip checking it.

A record is refused before it is sent unless its JSON reads back (a record that
does not validate would make every ``find`` that meets it raise). Checking that
by validating the JSON costs about a quarter of an ``insert_many``. For the
common model made of plain scalar fields, the check can be made on the values
instead, at a fraction of the cost: a field annotated ``str``, ``int``,
``bool`` or ``float`` (or one of them ``| None``), without constraints,
aliases, validators or serializers, reads back whenever its value is of
exactly that type (an ``int`` with fewer digits than Python converts from text,
a ``float`` written as ``NaN``/``Infinity`` constants, which the table's config
does). Values can break that only by assignment without validation (or
``model_construct``); they are looked at per record, and a batch with any other
value is validated as before.
"""

from __future__ import annotations

import functools
import operator
import sys
import types
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from discobase.model.table import Table

__all__ = ["has_own_validation", "provably_reads_back", "scalar_fields"]

_NONE = type(None)
_DICT = operator.attrgetter("__dict__")
_SCALARS: frozenset[type] = frozenset({str, int, bool, float})
#: Config keys that constrain or rename values, so that an unvalidated value may not read back.
_UNSAFE_CONFIG = (
    "alias_generator",
    "str_max_length",
    "str_min_length",
    "str_to_lower",
    "str_to_upper",
    "validate_by_alias",
    "serialize_by_alias",
)


def _allowed(annotation: Any) -> frozenset[type] | None:
    """The exact value types that read back for ``annotation`` (None: not a plain scalar)."""
    if annotation in _SCALARS:
        return frozenset({annotation})
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = set(typing.get_args(annotation))
        if _NONE in args and len(args) == 2:
            (inner,) = args - {_NONE}
            if inner in _SCALARS:
                return frozenset({inner, _NONE})
    return None


def has_own_validation(model: type[Table]) -> bool:
    """Whether ``model`` declares validators or serializers of its own (of a field or of the
    model): code that can change or refuse a value of the right type."""
    decorators = model.__pydantic_decorators__
    return bool(
        decorators.validators
        or decorators.field_validators
        or decorators.root_validators
        or decorators.model_validators
        or decorators.field_serializers
        or decorators.model_serializers
    )


@functools.lru_cache(maxsize=256)
def scalar_fields(model: type[Table]) -> tuple[tuple[str, frozenset[type]], ...] | None:
    """Each field of ``model`` with the value types that read back; None when the model
    has anything that can make a value of the right type fail to validate again."""
    if has_own_validation(model) or model.model_computed_fields:
        return None
    config = model.model_config
    if config.get("extra") == "allow" or any(config.get(key) for key in _UNSAFE_CONFIG):
        return None
    fields = []
    for name, info in model.model_fields.items():
        allowed = _allowed(info.annotation)
        if (
            allowed is None
            or info.metadata
            or info.alias is not None
            or info.validation_alias is not None
            or info.serialization_alias is not None
            or info.exclude
            or info.discriminator is not None
        ):
            return None
        if float in allowed and (
            config.get("ser_json_inf_nan") != "constants" or config.get("allow_inf_nan") is False
        ):
            return None
        fields.append((name, allowed))
    return tuple(fields)


@functools.lru_cache(maxsize=4)
def _digits_bound(limit: int) -> int | None:
    """The least int with ``limit`` digits (``10 ** (limit - 1)``; None without a limit):
    ints this large may not convert from text. Computed once per limit: making a
    4,300-digit int took about 30 µs, on every save."""
    return 10 ** (limit - 1) if limit else None


def provably_reads_back(model: type[Table], instances: Sequence[Table]) -> bool:
    """Whether the JSON of every one of ``instances`` (all exactly ``model``) validates again.

    False means "not known", not "does not": the caller validates then."""
    fields = scalar_fields(model)
    if fields is None:
        return False
    try:
        # Column by column, with C-level loops (map): this runs on every bulk insert.
        values = list(map(_DICT, instances))
        for name, allowed in fields:
            column = list(map(operator.itemgetter(name), values))
            if not set(map(type, column)) <= allowed:
                return False
            if int in allowed:
                ints = column if _NONE not in allowed else [v for v in column if v is not None]
                bound = _digits_bound(sys.get_int_max_str_digits())
                if ints and bound is not None and (max(ints) >= bound or min(ints) <= -bound):
                    return False
    except KeyError:  # a field left unset by model_construct
        return False
    return True
