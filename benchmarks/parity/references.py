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
      steps_unit: ``"updates"``: the ``steps`` flag counts updates and the reference evaluates
        every ``eval_every`` of them (CORL's PyTorch scripts); ``"epochs"``: the ``steps`` flag
        counts epochs of ``eval_every`` updates each (the harness passes ``steps // eval_every``)
        and ``fixed_args`` make the reference evaluate after every epoch (CORL ReBRAC).
      dataset_function: a module-level function of the script that builds the D4RL transitions
        itself instead of calling ``d4rl.qlearning_dataset`` (CORL ReBRAC's
        ``qlearning_dataset(env)``, which adds ``next_actions``); the harness wraps it to check
        its output against the project's arrays. ``""``: the script calls ``d4rl``'s.
      jax_aliases: removed ``jax`` aliases the script still uses, restored while it runs (each
        as the function that replaced it: ``tree_map`` -> ``jax.tree.map``;
        ``shims.JAX_ALIASES``).
      wandb_noops: ``wandb`` functions the script calls that raise under ``WANDB_MODE=disabled``
        with the installed wandb; no-ops while it runs (``shims.wandb_noops``).
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
    steps_unit: str = "updates"
    dataset_function: str = ""
    jax_aliases: tuple[str, ...] = ()
    wandb_noops: tuple[str, ...] = ()

    def __post_init__(self):
        if self.steps_unit not in ("updates", "epochs"):
            raise ValueError(f"Reference.steps_unit must be 'updates' or 'epochs', got "
                             f"{self.steps_unit!r}")


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


# CORL's ReBRAC (JAX): epochs of ``num_updates_on_epoch`` updates in a ``lax.fori_loop``, an
# evaluation after epoch 0, every ``eval_every``-th epoch and the last; its own D4RL loop with
# next actions; ``jax.tree_map`` (removed in JAX 0.6) in its replay buffer;
# ``wandb.mark_preempting()``, which raises in the installed wandb's disabled mode. With one
# epoch per harness evaluation interval and ``--eval_every=1`` it evaluates after every epoch,
# i.e. after k * eval_every updates, like the others.
_CORL_REBRAC = Reference(
    name="corl/rebrac", repository=CORL_REPOSITORY, commit=CORL_COMMIT,
    script="algorithms/offline/rebrac.py", algorithm="rebrac", variant="corl",
    eval_function="evaluate", config_file="configs/offline/rebrac/{env}/{kind}_v2.yaml",
    flags={"env": "dataset_name", "steps": "num_epochs", "eval_every": "num_updates_on_epoch",
           "episodes": "eval_episodes", "seed": "train_seed"},
    fixed_args=("--eval_every=1",), config_class="Config", steps_unit="epochs",
    dataset_function="qlearning_dataset", jax_aliases=("tree_map",),
    wandb_noops=("mark_preempting",))

REFERENCES: dict[str, Reference] = {
    "corl/td3_bc": _corl("td3_bc", "td3_bc.py"),
    "corl/bc": _corl("bc", "any_percent_bc.py"),
    "corl/iql": _corl("iql", "iql.py"),
    # Ran end to end through the harness for a few hundred updates (the speed measurement in
    # the README); no parity run yet (benchmarks/parity/queue_cql_rebrac.sh).
    "corl/cql": _corl("cql", "cql.py"),
    "corl/rebrac": _CORL_REBRAC,
}


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
    # CORL cql.py, every domain: the temperature's Adam runs at policy_lr (3e-5 in every
    # locomotion config), and the actor's log-std starts with an offset of -1 (JaxCQL's
    # TanhGaussianPolicy, log_std_offset=-1.0).
    ("corl/cql", "", {"alpha_lr": 3e-5, "log_std_offset": -1.0}),
    # CORL configs/offline/cql/hopper/medium_v2.yaml alone: normalize_reward: true (scale 1,
    # bias 0), i.e. r * 1000 / (max - min trajectory return); its other locomotion configs keep
    # raw rewards, as ours does by default.
    ("corl/cql", r"^hopper-medium-v2$", {"return_range_rewards": True}),
    # corl/rebrac: none. Ours' defaults are CORL's locomotion defaults and
    # experiments/overrides.py already holds its per-dataset actor/critic BC coefficients
    # (hopper medium: 0.01 and 0.01, the defaults).
)


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
    if reference.steps_unit == "epochs":
        if eval_every <= 0 or steps % eval_every:
            raise ValueError(f"{reference.name} counts epochs of eval_every updates: steps "
                             f"({steps}) must be a positive multiple of eval_every ({eval_every})")
        steps //= eval_every
    values = {"env": env_name, "steps": steps, "eval_every": eval_every, "episodes": episodes,
              "seed": seed}
    args = [f"--config_path=<reference_dir>/{config_file}"] if config_file else []
    args += [f"--{reference.flags[key]}={value}" for key, value in values.items()]
    return args + list(reference.fixed_args) + shlex.split(extra)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m benchmarks.parity.references REFERENCE DATASET  (prints our "
                 "--config.* flags matching the reference's settings on that dataset)")
    print(" ".join(ours_config_args(sys.argv[1], sys.argv[2])))
