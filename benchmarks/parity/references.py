"""The reference implementations the harness knows: where each lives and how it is driven.

Each entry names the repository, the commit the parity runs used (the user checks that commit out
and passes it as ``--reference_dir``; no reference code is stored here), the script, the project
algorithm it is compared with, its evaluation function (wrapped to capture the returns), its own
per-domain config file and the names of its flags for the harness's settings.
"""

from __future__ import annotations

import dataclasses
import shlex

from jaxrl_offline.datasets import dataset_spec

CORL_REPOSITORY = "corl-team/CORL"
CORL_COMMIT = "eeeeef2671235fcce3a3eb255576a207d78840e6"


@dataclasses.dataclass(frozen=True)
class Reference:
    """How to run one reference script.

    Attributes:
      name: harness name (``"corl/td3_bc"``).
      repository: GitHub ``owner/name``.
      commit: the commit the committed parity records were made with.
      script: path of the script in the repository.
      algorithm: the project's registry name of the same method.
      variant: the record's variant (its table column is ``<algorithm>/<variant>``).
      eval_function: module-level function of the script that evaluates the policy and returns the
        episode returns; the harness wraps it.
      config_file: the reference's own config for a domain, a template over ``{env}`` and
        ``{kind}`` (D4RL spelling: ``medium_expert``); ``""`` when it has none.
      flags: the reference's flag for each harness setting: ``env``, ``steps``, ``eval_every``,
        ``episodes``, ``seed``.
      fixed_args: flags always passed (``--device=cpu``).
      config_class: the script's pyrallis config dataclass, parsed for the record.
    """

    name: str
    repository: str
    commit: str
    script: str
    algorithm: str
    variant: str
    eval_function: str
    config_file: str
    flags: dict[str, str]
    fixed_args: tuple[str, ...] = ()
    config_class: str = "TrainConfig"


_CORL_FLAGS = {"env": "env", "steps": "max_timesteps", "eval_every": "eval_freq",
               "episodes": "n_episodes", "seed": "seed"}



def _corl(algorithm: str, script: str) -> Reference:
    """A CORL offline script: module-level ``eval_actor``, pyrallis ``TrainConfig``, ``train()``,
    per-domain configs under ``configs/offline/<algorithm>/<env>/<kind>_v2.yaml``."""
    return Reference(
        name=f"corl/{algorithm}", repository=CORL_REPOSITORY, commit=CORL_COMMIT,
        script=f"algorithms/offline/{script}", algorithm=algorithm, variant="corl",
        eval_function="eval_actor",
        config_file=f"configs/offline/{algorithm}/{{env}}/{{kind}}_v2.yaml",
        flags=_CORL_FLAGS, fixed_args=("--device=cpu",))


REFERENCES: dict[str, Reference] = {
    "corl/td3_bc": _corl("td3_bc", "td3_bc.py"),
    "corl/bc": _corl("bc", "any_percent_bc.py"),
    # Same interface as the two above; each ran end to end for 2 updates through the harness,
    # no parity run yet.
    "corl/iql": _corl("iql", "iql.py"),
    "corl/cql": _corl("cql", "cql.py"),
}


def get_reference(name: str) -> Reference:
    try:
        return REFERENCES[name]
    except KeyError:
        raise ValueError(f"unknown reference {name!r}; known: {sorted(REFERENCES)}") from None


def d4rl_name(dataset_id: str) -> tuple[str, str, str]:
    """``(env, kind, D4RL env name)`` of a suite dataset: ``jaxrl_offline/hopper/medium-50k-v0``
    -> ``("hopper", "medium", "hopper-medium-v2")``. The size label is dropped: the reference sees
    the same name (and picks the same per-domain settings) for every size."""
    parsed = dataset_spec.parse(dataset_id)
    if parsed.is_mixture or parsed.parts[0].suite is None:
        raise ValueError(f"{dataset_id!r} is not a locomotion-suite id; pass --env_name (and "
                         "--reference_config) explicitly")
    env, kind = parsed.parts[0].suite.env, parsed.parts[0].suite.kind
    return env, kind, f"{env}-{kind}-v2"


def command_args(reference: Reference, env_name: str, config_file: str | None, seed: int,
                 steps: int, eval_every: int, episodes: int, extra: str = "") -> list[str]:
    """The reference's command-line arguments; ``config_file`` is relative to the checkout and
    written as ``<reference_dir>/...`` so that records do not hold local paths."""
    values = {"env": env_name, "steps": steps, "eval_every": eval_every, "episodes": episodes,
              "seed": seed}
    args = [f"--config_path=<reference_dir>/{config_file}"] if config_file else []
    args += [f"--{reference.flags[key]}={value}" for key, value in values.items()]
    return args + list(reference.fixed_args) + shlex.split(extra)
