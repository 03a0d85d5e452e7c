"""Hyperparameter groups shared by several algorithms' ``Config`` classes, declared once.

A group is a frozen dataclass; an algorithm's ``Config`` inherits it, re-declares only the
defaults it changes and adds its own fields. :func:`documented` (a decorator on the ``Config``)
appends to the ``Config``'s ``Attributes:`` section an entry for every inherited field the
``Config`` does not document itself, with that ``Config``'s default, so each ``Config``'s
docstring still lists every field (the API reference and ``tests/test_algorithms.py`` read it).
A ``Config`` documents an inherited field itself where it has more to say (per-dataset values, a
difference from the reference code).

Groups:

* :class:`TDLearning`: the critic's network and step size, the batch, the discount and the
  Polyak rate of a critic trained by temporal differences (every algorithm but BC);
* :class:`ActorCritic`: plus the actor's network and step size (TD3, SAC, IQL, CQL, MISA and
  their variants);
* :class:`ExpectileValue`: plus IQL's expectile state value (IQL, IDQL);
* :class:`TD3`: plus TD3's target policy smoothing and policy delay (TD3+BC, ReBRAC, TD3-RKL).
"""

from __future__ import annotations

import dataclasses
import inspect

# One line per shared field: what it is (the default is added per Config).
FIELD_DOCS = {
    "actor_hidden_dims": "actor MLP sizes",
    "critic_hidden_dims": "MLP sizes of each critic",
    "actor_lr": "actor Adam step size",
    "critic_lr": "critic Adam step size",
    "batch_size": "transitions per update",
    "discount": "gamma",
    "tau": "Polyak rate of the target networks",
    "value_hidden_dims": "V MLP sizes",
    "value_lr": "V Adam step size",
    "expectile": "tau of the expectile value loss, IQL Eq. 5 (0.9 on AntMaze)",
    "policy_noise": "std of TD3's target policy smoothing noise, in [-1, 1] action units",
    "noise_clip": "clip of the smoothing noise",
    "policy_freq": ("critic updates per actor and target update (the actor steps on updates "
                    "policy_freq - 1, 2 policy_freq - 1, ..., TD3's phase, "
                    "``state.delayed_update``)"),
}


def describe_default(value) -> str:
    """A default as the docs write it: ``2 x 256`` for equal layer sizes, else its repr."""
    if isinstance(value, tuple) and value and len(set(value)) == 1:
        return f"{len(value)} x {value[0]}"
    return repr(value)


def attribute_entries(doc: str) -> dict[str, str]:
    """The entries of a cleaned docstring's ``Attributes:`` section: field name -> its lines."""
    entries: dict[str, str] = {}
    name = None
    for line in doc[doc.rfind("\nAttributes:"):].splitlines()[2:]:
        if line.startswith("  ") and not line.startswith("   ") and ":" in line:
            name = line.strip().split(":", 1)[0]
            entries[name] = line
        elif name is not None and line:
            entries[name] += "\n" + line
    return entries


def field_defaults(config_cls: type) -> dict:
    """``{field name: default}`` read from the dataclass fields, without building a ``Config``
    (``documented`` runs at import, before anything may touch a JAX backend: validations in
    ``__post_init__`` could, and ``jax.distributed.initialize`` must come first)."""
    return {field.name: (field.default_factory() if field.default is dataclasses.MISSING
                         else field.default) for field in dataclasses.fields(config_cls)}


def documented(config_cls: type) -> type:
    """Adds an entry for each inherited field that ``config_cls``'s docstring does not document.

    The entry is a base class's own entry when ``config_cls`` keeps that base's default, else
    the shared description in ``FIELD_DOCS`` with ``config_cls``'s default. The ``Attributes:``
    section must end the docstring (entries are appended to it).

    Raises:
      ValueError: the docstring has no final ``Attributes:`` section, or a field has no entry to
        inherit (document it in the ``Config``'s ``Attributes:`` section).
    """
    doc = inspect.cleandoc(config_cls.__doc__ or "")
    section = doc.rfind("\nAttributes:")
    if section < 0 or any(line and not line.startswith(" ")
                          for line in doc[section:].splitlines()[2:]):
        raise ValueError(f"{config_cls.__qualname__}'s docstring needs an 'Attributes:' section, "
                         "last, for hyperparams.documented to extend")
    own = attribute_entries(doc)
    defaults = field_defaults(config_cls)
    added = []
    for field in dataclasses.fields(config_cls):
        if field.name in own:
            continue
        default = defaults[field.name]
        inherited = [attribute_entries(inspect.cleandoc(base.__doc__)).get(field.name)
                     for base in config_cls.__mro__[1:]
                     if dataclasses.is_dataclass(base) and base.__doc__
                     and field_defaults(base).get(field.name, dataclasses.MISSING) == default]
        if inherited and inherited[0]:
            added.append(inherited[0])
        elif field.name in FIELD_DOCS:
            added.append(f"  {field.name}: {FIELD_DOCS[field.name]} "
                         f"({describe_default(default)}).")
        else:
            raise ValueError(f"{config_cls.__qualname__}.{field.name} is undocumented: add an "
                             "entry to the Config's 'Attributes:' section")
    config_cls.__doc__ = "\n".join([doc, *added]) + "\n"
    return config_cls


@dataclasses.dataclass(frozen=True)
class TDLearning:
    """A critic trained by temporal differences on minibatches, with Polyak-averaged targets.

    Attributes:
    """

    critic_hidden_dims: tuple[int, ...] = (256, 256)
    critic_lr: float = 3e-4
    batch_size: int = 256
    discount: float = 0.99
    tau: float = 0.005


@dataclasses.dataclass(frozen=True)
class ActorCritic(TDLearning):
    """:class:`TDLearning` plus the actor's network and step size.

    Attributes:
    """

    actor_hidden_dims: tuple[int, ...] = (256, 256)
    actor_lr: float = 3e-4


@dataclasses.dataclass(frozen=True)
class ExpectileValue(TDLearning):
    """:class:`TDLearning` plus IQL's in-sample state value V, an upper expectile of the target
    Q over dataset actions (IQL, IDQL).

    Attributes:
    """

    value_hidden_dims: tuple[int, ...] = (256, 256)
    value_lr: float = 3e-4
    expectile: float = 0.7


@dataclasses.dataclass(frozen=True)
class TD3(ActorCritic):
    """:class:`ActorCritic` plus TD3's target policy smoothing and delayed policy updates
    (Fujimoto et al. 2018; TD3+BC's defaults).

    Attributes:
    """

    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_freq: int = 2


documented(TDLearning)
documented(ActorCritic)
documented(ExpectileValue)
documented(TD3)
