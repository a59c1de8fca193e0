"""Dotted-key changes to a nested dataclass config, each value checked against its field's type.

``apply_overrides(cfg, {"train.lr": 1e-4})`` is how a YAML file, a notebook's dict and the
command line's ``--set`` change a ``config.Config``: unknown keys and type changes are errors
(ints widen to float; a YAML string such as ``4e-5`` is read as the float it means, and a YAML
int given for a text field as its string form, e.g. ``data.text_layer=3``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def coerce(key: str, value: Any, annotation: Any) -> Any:
    """Return ``value`` checked against the field's type annotation (ints widen to float)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(key, value, inner[0])
    if origin is list:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise TypeError(f"config {key}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(annotation)
        return [coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        # YAML 1.1 reads 4e-5 (no dot) as a string; a number written so is still meant
        try:
            return float(value)
        except ValueError:
            raise TypeError(f"config {key}: expected float, got str {value!r}") from None
    if annotation is str and isinstance(value, int) and not isinstance(value, bool):
        # YAML reads 3 as an int; a text field that takes an index (data.text_layer=3) means "3"
        return str(value)
    if annotation is bool and not isinstance(value, bool):
        raise TypeError(f"config {key}: expected bool, got {value!r}")
    if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"config {key}: expected int, got {value!r}")
    if not isinstance(value, annotation):
        raise TypeError(
            f"config {key}: expected {annotation.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def apply_overrides(cfg: T, overrides: dict[str, Any] | None) -> T:
    """Set dotted keys (``"train.lr"``) or nested dicts on ``cfg`` in place and return it.

    ``cfg`` is a ``config.Config`` (or any dataclass whose fields may be dataclasses).

    Raises:
        KeyError: for a key that is not a config field.
        TypeError: for a value whose type does not match the field.
    """
    if not overrides:
        return cfg
    for key, value in flatten_overrides(overrides).items():
        obj: Any = cfg
        parts = key.split(".")
        for part in parts[:-1]:
            if not dataclasses.is_dataclass(obj) or part not in field_types(obj):
                raise KeyError(f"unknown config section {part!r} in key {key!r}")
            obj = getattr(obj, part)
        name = parts[-1]
        types_ = field_types(obj) if dataclasses.is_dataclass(obj) else {}
        if name not in types_:
            known = ", ".join(sorted(types_))
            raise KeyError(f"unknown config key {key!r}; known keys here: {known}")
        if dataclasses.is_dataclass(getattr(obj, name)):
            raise TypeError(f"config {key} is a section; set its fields, e.g. {key}.<field>")
        setattr(obj, name, coerce(key, value, types_[name]))
    return cfg


def flatten_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts of changes as dotted keys: ``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}``."""
    out: dict[str, Any] = {}
    for k, v in overrides.items():
        if isinstance(v, dict):
            for kk, vv in flatten_overrides(v).items():
                out[f"{k}.{kk}"] = vv
        else:
            out[k] = v
    return out


def field_types(obj: Any) -> dict[str, Any]:
    """Field name -> resolved type annotation of the dataclass instance ``obj``."""
    hints = typing.get_type_hints(type(obj))
    return {f.name: hints[f.name] for f in dataclasses.fields(obj)}
