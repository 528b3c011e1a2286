"""Records as model instances, and lookup values as index keys, without avoidable work per call.

A warm ``find`` on a unique field is a dictionary lookup, so the fixed costs
around it are most of its time. Two of them are Pydantic's and are avoided
here where the result is provably the same:

- Building an instance from a stored record with ``model_validate_json`` runs
  the model's post-init hook after validation. For a :class:`Table` that hook
  only fills the private attributes (``_disco_id``), once per class of the
  inheritance chain (Pydantic wraps the parent's hook in each subclass); it
  was about a third of building a record. :func:`build` validates the same
  JSON with the validator of the model's fields (the same core schema and
  config, so the same values, types and errors) and makes the instance as
  Pydantic's model validator does, with the private attributes set directly.
- Validating a lookup value on a probe instance (``validate_assignment``) to
  get its index key: for a plain ``str``, ``int`` or ``bool`` field a value of
  exactly the field's type is its own validated value, so
  :func:`own_key_types` lets the planner use it as is.

Anything else (a model with its own ``model_post_init``, other private
attributes, a validator wrapped by a Pydantic plugin, a schema Pydantic lays
out differently) goes through Pydantic's public path, as before.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic._internal import _model_construction
from pydantic_core import SchemaValidator

from discobase.engine.readback import has_own_validation

if TYPE_CHECKING:
    from discobase.model.table import Table

__all__ = ["FieldsValidators", "build", "build_many", "fields_validators", "own_key_types"]

M = TypeVar("M", bound="Table")

#: The private attributes :func:`build` knows how to set: the record id, nothing else.
_PRIVATE = frozenset({"_disco_id"})
#: Config that changes a string on validation, so that a ``str`` is not its own validated value.
_STR_CHANGING = ("str_strip_whitespace", "str_to_lower", "str_to_upper", "str_min_length", "str_max_length")
#: Field types whose values, of exactly that type, validate to themselves and need no JSON
#: round trip for their index key (a float does: ``nan``, ``-0.0``).
_SELF_KEYED: frozenset[Any] = frozenset({str, int, bool, type(None)})


def _only_private_init(model: type[Table]) -> bool:
    """Whether ``model``'s post-init hook only sets the private attributes' defaults.

    Pydantic sets it to ``init_private_attributes``, or, in a subclass, to a wrapper that
    calls ``init_private_attributes`` and then the parent's hook. A hook a user wrote
    anywhere in the chain ends the walk with False."""
    hook: Any = model.model_post_init
    wrapper_file = _model_construction.__file__
    for _ in range(64):
        if hook is _model_construction.init_private_attributes:
            return True
        code = getattr(hook, "__code__", None)
        inner = getattr(hook, "__wrapped__", None)
        if (
            inner is None
            or code is None
            or code.co_name != "wrapped_model_post_init"
            or code.co_filename != wrapper_file
        ):
            return False
        hook = inner
    return False


class FieldsValidators:
    """Validators of one model's fields: one record, and a JSON array of records."""

    __slots__ = ("many", "one")

    def __init__(self, one: SchemaValidator, many: SchemaValidator) -> None:
        self.one = one
        self.many = many


@functools.lru_cache(maxsize=256)
def fields_validators(model: type[Table]) -> FieldsValidators | None:
    """The validators of ``model``'s fields, or None when :func:`build` must use Pydantic's path.

    They validate as ``model``'s own validator does before it makes the instance: its
    core schema's fields part with the model's config."""
    if type(model.__pydantic_validator__) is not SchemaValidator:  # e.g. wrapped by a plugin
        return None
    if set(model.__private_attributes__) != _PRIVATE or not _only_private_init(model):
        return None
    schema: Any = model.__pydantic_core_schema__
    if (
        schema.get("type") != "model"
        or schema.get("cls") is not model
        or schema.get("custom_init")
        or schema.get("root_model")
        or schema.get("schema", {}).get("type") != "model-fields"
    ):
        return None
    config = schema.get("config")
    try:
        one = SchemaValidator(schema["schema"], config)
        # Titled as ``TypeAdapter(list[model])`` titles its errors.
        many_config = {**(config or {}), "title": f"list[{model.__name__}]"}
        many = SchemaValidator({"type": "list", "items_schema": schema["schema"]}, many_config)  # type: ignore[arg-type]
    except Exception:  # a layout this module does not know: Pydantic's path
        return None
    return FieldsValidators(one, many)


def _instance(model: type[M], validated: tuple[dict[str, Any], Any, set[str]], rid: int) -> M:
    """The instance Pydantic's model validator makes from validated fields, with its id."""
    values, extra, fields_set = validated
    instance = model.__new__(model)
    setattr_ = object.__setattr__
    setattr_(instance, "__dict__", values)
    setattr_(instance, "__pydantic_extra__", extra)
    setattr_(instance, "__pydantic_fields_set__", fields_set)
    setattr_(instance, "__pydantic_private__", {"_disco_id": rid})
    return instance


def build(model: type[M], data: str, rid: int) -> M:
    """Record ``rid`` (its stored JSON ``data``) as a ``model`` instance.

    Exactly what ``model.model_validate_json(data)`` gives, with its record id set.

    Raises:
        pydantic.ValidationError: the model rejects the record (Pydantic's own error).
    """
    validators = fields_validators(model)
    if validators is None:
        instance = model.model_validate_json(data)
        private = instance.__pydantic_private__
        assert private is not None  # Table has a private attribute
        private["_disco_id"] = rid  # what ``__disco_id__ = rid`` does, without the setter's cost
        return instance
    return _instance(model, validators.one.validate_json(data), rid)


def build_many(model: type[M], array: str, rids: Sequence[int]) -> list[M] | None:
    """Records ``rids`` from ``array`` (their JSON, as one JSON array), or None to use the list adapter.

    Raises:
        pydantic.ValidationError: the model rejects one of the records.
    """
    validators = fields_validators(model)
    if validators is None:
        return None
    rows = validators.many.validate_json(array)
    return [_instance(model, row, rid) for row, rid in zip(rows, rids, strict=True)]


@functools.lru_cache(maxsize=1024)
def own_key_types(model: type[Table], name: str) -> frozenset[type]:
    """Types of lookup values that field ``name`` of ``model`` validates to themselves.

    For these the value is its own validated (and serialized) value: validating it on a
    probe and serializing it would give it back unchanged. Empty unless the field is
    annotated ``str``, ``int`` or ``bool`` (or one of them ``| None``) with nothing
    attached (constraints, ``Annotated`` validators), the model has no validators or
    serializers (a model validator runs on every assignment) and its config changes no
    string."""
    if has_own_validation(model) or any(model.model_config.get(key) for key in _STR_CHANGING):
        return frozenset()
    info = model.__pydantic_fields__.get(name)
    if info is None or info.metadata:
        return frozenset()
    annotation: Any = info.annotation
    if annotation in _SELF_KEYED:
        return frozenset({annotation})
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = frozenset(typing.get_args(annotation))
        if len(members) == 2 and type(None) in members and members <= _SELF_KEYED:
            return members
    return frozenset()
