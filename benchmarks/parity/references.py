"""The reference implementations the harness knows: where each lives and how it is driven.

Each entry names the repository, the commit the parity runs used (the user checks that commit out
and passes it as ``--reference_dir``; no reference code is stored here), the script, the project
algorithm it is compared with, its evaluation function (wrapped to capture the returns), its own
per-domain config file and the names of its flags for the harness's settings.

``OURS_CONFIG`` holds, per reference and domain, the ``--config.*`` settings of ours that match the
reference's own choices where they depart from our defaults (the parity queue runs ours with them;
the run record keeps them under ``overrides``):

    python -m benchmarks.parity.references corl/iql jaxrl_offline/hopper/medium-v0
    # --config.use_updated_value=false --config.actor_kind=deterministic --config.tau=0.001
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import sys
from collections.abc import Mapping
from typing import Any

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

    def flag_values(self, env_name: str, seed: int, steps: int, eval_every: int,
                    episodes: int) -> dict[str, Any]:
        """The reference's flag name -> value for the harness's settings."""
        values = {"env": env_name, "steps": steps, "eval_every": eval_every,
                  "episodes": episodes, "seed": seed}
        return {self.flags[key]: value for key, value in values.items()}


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


# --- MISA (sail-sg/MISA, JAX; runs in its own venv: benchmarks/parity/venv_reference.py) ---

MISA_REPOSITORY = "sail-sg/MISA"
MISA_COMMIT = "bd350e5ee650ad0a212d80a85c02b6fadea9104a"


@dataclasses.dataclass(frozen=True)
class VenvReference(Reference):
    """A reference run by ``venv_reference`` in a child process with its own venv's Python.

    ``eval_function`` may name a method (``"TrajSampler.sample"``); ``config_class`` names the
    module-level dict of its absl flags (recorded as its config). Training counts epochs:
    ``flags["steps"]`` is the epoch-count flag, given ``steps // eval_every``, and
    ``flags["eval_every"]`` the updates per epoch; ``fixed_args`` make it evaluate after every
    epoch, so the k-th evaluation is again the one after k x ``eval_every`` updates.

    Attributes:
      entry_module: the module imported (with the checkout first on ``sys.path``) whose
        ``main(argv)`` runs after its absl flags are parsed.
      returns_reader: ``venv_reference.RETURN_READERS`` key reading returns from the hook's
        result.
      requirements: the pinned venv packages, relative to this repository.
    """

    entry_module: str = ""
    returns_reader: str = "returns"
    requirements: str = ""

    def flag_values(self, env_name: str, seed: int, steps: int, eval_every: int,
                    episodes: int) -> dict[str, Any]:
        if eval_every <= 0 or steps % eval_every:
            raise ValueError(f"{self.name} trains in epochs of eval_every updates: steps "
                             f"({steps}) must be a positive multiple of eval_every ({eval_every})")
        return super().flag_values(env_name, seed, steps // eval_every, eval_every, episodes)


REFERENCES["official/misa"] = VenvReference(
    name="official/misa", repository=MISA_REPOSITORY, commit=MISA_COMMIT,
    script="experiments/main.py", algorithm="misa", variant="official",
    eval_function="TrajSampler.sample", config_file="",
    flags={"env": "env", "steps": "n_epochs", "eval_every": "n_train_step_per_epoch",
           "episodes": "eval_n_trajs", "seed": "seed"},
    # eval_period=1: evaluate after every epoch (its epoch 0 is always evaluated);
    # its wandb/viskit logs go to a temporary folder.
    fixed_args=("--eval_period=1", "--logging.output_dir=<scratch_dir>"),
    config_class="FLAGS_DEF", entry_module="experiments.main",
    returns_reader="trajectory_rewards", requirements="benchmarks/parity/requirements-misa.txt")


def get_reference(name: str) -> Reference:
    try:
        return REFERENCES[name]
    except KeyError:
        raise ValueError(f"unknown reference {name!r}; known: {sorted(REFERENCES)}") from None


# (reference, D4RL env-name regex, our Config values): every matching row applies, later rows win.
OURS_CONFIG: tuple[tuple[str, str, Mapping[str, Any]], ...] = (
    # CORL iql.py, every domain: V, Q and the actor all read the step's starting V.
    ("corl/iql", "", {"use_updated_value": False}),
    # CORL configs/offline/iql/hopper/{medium,medium_replay}_v2.yaml: iql_deterministic: true,
    # tau: 0.001 (its other locomotion configs keep the Gaussian actor and 0.005).
    ("corl/iql", r"^hopper-medium(-replay)?-v2$", {"actor_kind": "deterministic", "tau": 0.001}),
)


# MISA: the code draws its HMC chains from step size 1.0 at every update (TFP's
# SimpleStepSizeAdaptation over the 4 burn-in steps, at most 1% a step, restarts each update);
# ours carries an adapted step size across updates unless mcmc_adaptation_rate=0. Every other
# setting of its experiments/main.py and MISA.get_default_config() is our default.
OURS_CONFIG += (("official/misa", "", {"mcmc_adaptation_rate": 0.0}),)


def ours_config(reference_name: str, dataset_id: str) -> dict[str, Any]:
    """Our Config values matching ``reference_name``'s settings on ``dataset_id`` (``{}``: our
    defaults already match, as far as a Config field can)."""
    get_reference(reference_name)
    env_name = d4rl_name(dataset_id)[2]
    values: dict[str, Any] = {}
    for name, pattern, row in OURS_CONFIG:
        if name == reference_name and re.search(pattern, env_name):
            values.update(row)
    return values


def ours_config_args(reference_name: str, dataset_id: str) -> list[str]:
    """``ours_config`` as ``experiments.run`` flags: ``["--config.tau=0.001", ...]``."""
    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    args = [f"--config.{field}={text(value)}"
            for field, value in ours_config(reference_name, dataset_id).items()]
    if any(re.search(r"\s", arg) for arg in args):
        raise ValueError(f"OURS_CONFIG values must not contain whitespace (the queue splits the "
                         f"printed flags on it): {args}")
    return args


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
    values = reference.flag_values(env_name, seed, steps, eval_every, episodes)
    args = [f"--config_path=<reference_dir>/{config_file}"] if config_file else []
    args += [f"--{flag}={value}" for flag, value in values.items()]
    return args + list(reference.fixed_args) + shlex.split(extra)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m benchmarks.parity.references REFERENCE DATASET  (prints our "
                 "--config.* flags matching the reference's settings on that dataset)")
    print(" ".join(ours_config_args(sys.argv[1], sys.argv[2])))
