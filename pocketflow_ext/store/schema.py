"""A Store's schema: ``{key: type}`` checked with ``isinstance``, or a pydantic model whose
fields are checked one by one. pydantic is imported only when a model is given."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

SchemaType = type | tuple[type, ...]


class FieldCheck:
    """One pydantic field's type, validated strictly (no coercion: the store keeps the value
    as written, so ``"3"`` is refused for an ``int`` field rather than stored as a str)."""

    __slots__ = ("adapter", "label", "model")

    def __init__(self, adapter: Any, label: str, model: str) -> None:
        self.adapter = adapter
        self.label = label
        self.model = model

    def problem(self, value: Any) -> str | None:
        """pydantic's first complaint about ``value``, or None when it fits the field."""
        try:
            self.adapter.validate_python(value, strict=True)
        except ValueError as exc:  # pydantic_core.ValidationError is a ValueError
            errors = getattr(exc, "errors", None)
            if callable(errors):
                details = errors()
                if details:  # the first complaint, with where in the value it is
                    where = ".".join(map(str, details[0].get("loc", ())))
                    message = str(details[0].get("msg", exc))
                    return f"at {where}: {message}" if where else message
            return str(exc)
        return None


class Schema:
    """What a Store checks on write, built once when the Store is made.

    ``types`` is the hot-path lookup: ``isinstance(value, types[key])``. A pydantic field
    maps to ``()``, which no value is an instance of, so its writes always reach the
    field's ``FieldCheck`` in ``checks``.
    """

    __slots__ = ("types", "checks", "required", "source")

    def __init__(self, source: Mapping[str, Any] | type | None) -> None:
        self.types: dict[Any, SchemaType] = {}
        self.checks: dict[Any, FieldCheck] = {}
        self.source: Mapping[str, Any] | type | None = source
        if source is None:
            self.required: tuple[Any, ...] = ()
        elif is_pydantic_model(source):
            assert isinstance(source, type)
            self.checks = _model_checks(source)
            self.types = dict.fromkeys(self.checks, ())
            fields = source.model_fields  # type: ignore[attr-defined]
            self.required = tuple(k for k, f in fields.items() if f.is_required())
        elif isinstance(source, Mapping):
            self.types = _type_schema(source)
            self.required = tuple(self.types)
        else:
            raise TypeError(
                "schema must be a dict of {key: type} (e.g. {'count': int}) or a pydantic "
                f"BaseModel subclass, got {source!r}"
            )

    def described(self) -> dict[Any, SchemaType] | type:
        """What ``Store.schema`` shows: the model class, or a copy of the type mapping."""
        if isinstance(self.source, type):
            return self.source
        return dict(self.types)

    def reduced(self) -> dict[Any, SchemaType] | type | None:
        """What pickling and copies pass back to ``Store(schema=...)``."""
        if self.source is None:
            return None
        return self.described()


def is_pydantic_model(source: Any) -> bool:
    # Duck-typed so the core never imports pydantic: v2 models carry model_fields and
    # model_validate on the class.
    return (
        isinstance(source, type)
        and hasattr(source, "model_fields")
        and hasattr(source, "model_validate")
    )


def type_label(expected: SchemaType) -> str:
    if isinstance(expected, tuple):
        return " | ".join(t.__name__ for t in expected)
    return expected.__name__


def _type_schema(schema: Mapping[str, Any]) -> dict[Any, SchemaType]:
    checked: dict[Any, SchemaType] = {}
    for key, expected in schema.items():
        items = expected if isinstance(expected, tuple) else (expected,)
        items = tuple(type(None) if t is None else t for t in items)
        if not items or not all(isinstance(t, type) for t in items):
            raise TypeError(
                f"schema entry {key!r} must be a type or a tuple of types (e.g. str or "
                f"(int, float)); got {expected!r}. For generics like list[str] use list, or "
                "pass a pydantic model as schema= to check them."
            )
        checked[key] = items if len(items) > 1 else items[0]
    return checked


def _model_checks(model: type) -> dict[str, FieldCheck]:
    from typing import Annotated

    from pydantic import ConfigDict, TypeAdapter
    from pydantic.errors import PydanticUserError

    checks: dict[str, FieldCheck] = {}
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        annotation = field.annotation
        # Constraints (Field(gt=0), max_length, ...) live in metadata, not in the annotation.
        target: Any = annotation
        if field.metadata:  # Annotated[annotation, *metadata], spelt so it parses on 3.10
            target = operator.getitem(Annotated, (annotation, *field.metadata))
        label = _annotation_label(annotation)
        try:
            try:
                # Arbitrary classes (a client, an array) are checked with isinstance: the
                # model itself could only be defined if its config allowed them.
                adapter = TypeAdapter(target, config=ConfigDict(arbitrary_types_allowed=True))
            except PydanticUserError:  # models, dataclasses, TypedDicts bring their config
                adapter = TypeAdapter(target)
            adapter.core_schema["type"]  # noqa: B018 - an undefined forward reference raises here, not on the first write
        except Exception as exc:
            raise TypeError(
                f"schema {model.__name__}: field {name!r} ({label}) cannot be checked: {exc}. "
                f"If it names a type defined later, call {model.__name__}.model_rebuild() first"
            ) from exc
        checks[name] = FieldCheck(adapter, label, model.__name__)
    return checks


def _annotation_label(annotation: Any) -> str:
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return repr(annotation).replace("typing.", "")
