"""From layer values to an algorithm's ``Config``: text, types, ranges and which algorithm.

Each algorithm's ``Config`` is built from layers, later winning (``experiments.sweep``): the
per-dataset table (``experiments/overrides.py``), the sweep's ``config``, the variant's ``config``,
``--config.<field>=value``, a grid point, and finally derived fields (``overrides.DERIVED``) that no
layer set. Command-line text becomes a value (:func:`parse_text`, :func:`parse_command_line`), a
layer's values are split per selected algorithm (:func:`select_fields`), and each value is
converted to its field's type and range-checked (:func:`coerce_value`, :func:`build_config`);
every bad value is a ``ValueError`` naming the setting as the user wrote it.
"""

from __future__ import annotations

import ast
import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from jaxrl_offline.algorithms import ALGORITHMS, get_algorithm

from experiments import field_rules, migrations

def parse_text(text: str) -> Any:
    """Command-line text to a value: Python literals (``(64, 64)``, ``0.9``, ``None``, ``True``);
    ``true``/``false``/``none`` in any case; anything else stays a string (``inf`` included)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.strip().lower()
        return {"true": True, "false": False, "none": None, "null": None}.get(lowered, text)


def setting_name(where: str, name: str, value: Any) -> str:
    """How the user wrote a value: ``--config.<name>=<value>`` for the command line,
    ``--grid.<name>=<value>`` for a grid point, else ``<layer>: <name>=<value>``."""
    if where in ("command_line", "grid"):
        flag = "config" if where == "command_line" else "grid"
        return f"--{flag}.{name}={value!r}"
    return f"{where}: {name}={value!r}"


def coerce_value(config_cls: type, name: str, value: Any, where: str) -> Any:
    """``value`` converted to the type of ``config_cls.<name>`` and range-checked
    (``field_rules``), or a ``ValueError`` naming the setting, what is wrong and what to do."""
    hint = typing.get_type_hints(config_cls)[name]
    default = getattr(config_cls(), name)
    algo = config_cls.__module__.rsplit(".", 1)[-1]
    try:
        coerced = _coerce(value, hint)
    except (TypeError, ValueError):
        why = (f" (a bare {type(value).__name__} for a tuple of layer sizes would silently build "
               "other layers; one layer is '(64,)')"
               if _is_tuple(hint) and not isinstance(value, (list, tuple)) else "")
        raise ValueError(
            f"{setting_name(where, name, value)} is not a valid {_hint_name(hint)} for "
            f"{algo}.Config.{name}{why}. Give a {_hint_name(hint)} like the default, "
            f"{name}={default!r}.") from None
    problem = field_rules.range_error(name, coerced)
    if problem:
        raise ValueError(f"{setting_name(where, name, value)}: {algo}.Config.{name} {problem} "
                         f"(default {default!r}); give a value in that range.")
    return coerced


def _is_tuple(hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_is_tuple(arg) for arg in typing.get_args(hint))
    return typing.get_origin(hint) is tuple


def _coerce(value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return _coerce(value, arg)
                except (TypeError, ValueError):
                    pass
        raise TypeError(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):  # A bare 64 is not the network (64,).
            raise TypeError(value)
        items = value
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(item, args[0]) for item in items)
        if len(items) != len(args):
            raise TypeError(value)
        return tuple(_coerce(item, arg) for item, arg in zip(items, args))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise TypeError(value)


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) if not typing.get_args(hint) else str(hint)


def build_config(algorithm: str, layers: Sequence[tuple[str, Mapping[str, Any]]],
                 derived: Mapping[str, Any]) -> tuple[Any, dict[str, dict]]:
    """The final ``Config`` of ``algorithm`` and the provenance of its non-default values.

    Args:
      algorithm: registry name.
      layers: ``(layer name, {field: value})`` applied in order (later wins); values are
        type-checked against the field. An unknown field raises ``ValueError`` listing the valid
        ones.
      derived: ``{field: value}`` used for fields the config has and no layer set.

    Returns:
      ``(config, overrides)``, ``overrides = {layer name: {field: value}}`` for the layers that
      set something, then ``"derived"``.
    """
    config_cls = get_algorithm(algorithm).Config
    fields = [field.name for field in dataclasses.fields(config_cls)]
    values, provenance = {}, {}
    for layer, layer_values in layers:
        unknown = sorted(set(layer_values) - set(fields))
        if unknown:
            raise ValueError(f"{layer}: unknown {algorithm} config field(s) {unknown}. Valid "
                             f"fields of {algorithm}.Config: {', '.join(fields)}.")
        coerced = {name: coerce_value(config_cls, name, value, layer)
                   for name, value in layer_values.items()}
        values.update(coerced)
        if coerced:
            provenance[layer] = coerced
    computed = {name: coerce_value(config_cls, name, value, "derived")
                for name, value in derived.items() if name in fields and name not in values}
    if computed:
        provenance["derived"] = computed
    return config_cls(**values, **computed), provenance


def _renamed_hint(algos: Sequence[str], name: str) -> str:
    """`` (renamed: ...)`` for an old field name (``experiments/migrations.py``), else ``""``."""
    new = {algo: migrations.renamed(algo, name) for algo in algos if migrations.renamed(algo, name)}
    if not new:
        return ""
    parts = "; ".join(f"{algo}: {', '.join(names)}" for algo, names in new.items())
    return f" {name!r} was renamed (README, migration note): {parts}."


def select_fields(algos: Sequence[str], values: Mapping[str, Any], where: str, *,
                  strict_algorithms: bool = False):
    """``{algo: the part of values that applies to algo}``, or ``ValueError``.

    A plain entry ``{field: value}`` applies to every selected algorithm, so each of them must
    have the field: one that some lack is an error naming them (a name never means different
    things in two algorithms, but a value meant for one must not silently skip another). An entry
    keyed by a registered algorithm name with a dict value (``{"sfbc": {"batch_size": 1024}}``,
    on the command line ``--config.sfbc.batch_size=1024``) applies to that algorithm only, after
    the shared fields; entries of algorithms not selected are ignored, or an error with
    ``strict_algorithms`` (the command line).
    """
    fields = {algo: {f.name for f in dataclasses.fields(get_algorithm(algo).Config)}
              for algo in algos}
    own = {name: dict(value) for name, value in values.items()
           if name in ALGORITHMS and isinstance(value, Mapping)}
    shared = {name: value for name, value in values.items() if name not in own}
    unknown = sorted(name for name in shared if not any(name in f for f in fields.values()))
    if unknown:
        valid = "; ".join(f"{algo}: {', '.join(sorted(f))}" for algo, f in fields.items())
        hints = "".join(_renamed_hint(algos, name) for name in unknown)
        raise ValueError(f"{where}: unknown config field(s) {unknown} for {', '.join(algos)}. "
                         f"Valid fields: {valid}.{hints}")
    for name in shared:
        lacking = [algo for algo in algos if name not in fields[algo]]
        if lacking:
            having = [algo for algo in algos if algo not in lacking]
            example = (f"{where}.{having[0]}.{name}=..." if where.startswith("--")
                       else f"{{{having[0]!r}: {{{name!r}: ...}}}}")
            raise ValueError(
                f"{where}: config field {name!r} is not a field of {', '.join(lacking)} (only "
                f"of {', '.join(having)}){_renamed_hint(lacking, name)}. Set it per algorithm, "
                f"e.g. {example}, or select only algorithms that have it.")
    unselected = sorted(set(own) - set(algos))
    if strict_algorithms and unselected:
        raise ValueError(f"{where}: {', '.join(unselected)} not among the selected algorithms "
                         f"({', '.join(algos)}); its per-algorithm settings would do nothing.")
    for algo in algos:
        unknown = sorted(set(own.get(algo, {})) - fields[algo])
        if unknown:
            hints = "".join(_renamed_hint([algo], name) for name in unknown)
            raise ValueError(f"{where}: unknown {algo} config field(s) {unknown}{hints}. Valid "
                             f"fields of {algo}.Config: {', '.join(sorted(fields[algo]))}.")
    return {algo: {**shared, **own.get(algo, {})} for algo in algos}


def parse_command_line(command_line: Mapping[str, str], flag: str = "--config") -> dict[str, Any]:
    """``{"field": text, "algo.field": text}`` from ``--config.*`` (or ``flag``: ``--grid.*``)
    to ``{"field": value, "algo": {"field": value}}``; ``ValueError`` for an ``algo.`` prefix
    that is not a registered algorithm."""
    values: dict[str, Any] = {}
    for key, text in dict(command_line).items():
        algo, dot, name = key.rpartition(".")
        if not dot:
            values[name] = parse_text(text)
            continue
        if algo not in ALGORITHMS:
            raise ValueError(f"{flag}.{key}: {algo!r} is not a registered algorithm; write "
                             f"{flag}.<field>=VALUE or {flag}.<algorithm>.<field>=VALUE "
                             f"(algorithms: {', '.join(sorted(ALGORITHMS))}).")
        values.setdefault(algo, {})[name] = parse_text(text)
    return values

