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

CORL's scripts read their flags from ``sys.argv``; IDQL's ``call_main`` takes the settings dict its
launcher builds (``IDQL_DETAILS``, with the harness's flags applied by ``details_from_args``) and
runs in its own virtual environment (``requirements-idql.txt``). SfBC's two stages
(``train_behavior.py``, then ``train_critic.py``) run through their own runner,
:func:`benchmarks.parity.sfbc.run_seed` (``Reference.runner``; ``requirements-sfbc.txt``), and so do
ACA's offline and online scripts (``run_sacml.py``, then ``run_aca.py``):
:func:`benchmarks.parity.aca.run_seed` (``requirements-aca.txt``; the online evaluations go to the
record's ``online`` part, ``records.online_section``).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import re
import shlex
import sys
from collections.abc import Mapping
from typing import Any

from jaxrl_offline.datasets import dataset_spec

CORL_REPOSITORY = "corl-team/CORL"
CORL_COMMIT = "eeeeef2671235fcce3a3eb255576a207d78840e6"
IDQL_REPOSITORY = "philippe-eecs/IDQL"
IDQL_COMMIT = "7582571ce686c77b4ee0f592dd639ab8151295fa"
SFBC_REPOSITORY = "ChenDRAG/SfBC"
SFBC_COMMIT = "d384e9f0f272f3760ba56db2a235383fb8faef45"
ACA_REPOSITORY = "ZishunYu/Actor-Critic-Alignment"
ACA_COMMIT = "3a082bd555bcdb96f262dd3214358403ae03a371"


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
      config_class: the script's pyrallis config dataclass, parsed for the record (``None``: the
        record keeps ``details`` instead).
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
      entry: the function of the script that trains one seed.
      details: ``None``: ``entry()`` reads its flags from ``sys.argv`` (CORL). Otherwise the
        settings dict ``entry(details)`` takes (IDQL's ``call_main``); the arguments
        ``--key=value`` (``--rl_config.T=5`` for a nested key) replace its values
        (:func:`details_from_args`).
      steps_offset: added to the steps given to the ``steps`` flag (IDQL evaluates at loop index
        ``i = k * eval_interval`` after ``i + 1`` updates, so ``max_steps = steps + 1`` reaches
        the last evaluation, as its launcher's 3000001 does).
      steps_also: more flags set to the number of updates (IDQL's ``rl_config.decay_steps``, the
        length of its cosine schedule, which ours derives from ``--steps``).
      returns_from: where the episode returns come from: ``"result"`` (what the evaluation
        function returns, CORL) or ``"env"`` (the harness's env counts each episode's return and
        checks their mean against the function's ``{"return": mean}``, IDQL).
      framework: ``"torch"`` or ``"jax"`` (the record's device line; torch's thread count).
      import_root: the checkout goes on ``sys.path`` while the script runs (IDQL imports its
        ``jaxrl5`` package); modules imported from it are dropped afterwards.
      real_gym: the reference runs against the installed old ``gym`` (0.23, its spaces and
        wrappers), with only ``gym.make`` of the bound name served by the harness; ``False``:
        the harness's stand-in ``gym`` module (:mod:`benchmarks.parity.shims`).
      runner: ``"module:function"`` that runs one seed in place of ``harness.run_seed``, for a
        reference that is not one script with one entry (SfBC's two stages,
        ``benchmarks.parity.sfbc:run_seed``); called as ``function(reference, reference_dir,
        binding, args, seed)``. ``""``: ``harness.run_seed``.
      capture: the record's note on how evaluations were captured, where the default (the k-th
        call is the evaluation after k x eval_every updates) does not describe it; ``""``: the
        default.
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
    config_class: str | None = "TrainConfig"
    steps_unit: str = "updates"
    dataset_function: str = ""
    jax_aliases: tuple[str, ...] = ()
    wandb_noops: tuple[str, ...] = ()
    entry: str = "train"
    details: Mapping[str, Any] | None = None
    steps_offset: int = 0
    steps_also: tuple[str, ...] = ()
    returns_from: str = "result"
    framework: str = "torch"
    import_root: bool = False
    real_gym: bool = False
    runner: str = ""
    capture: str = ""

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
    wandb_noops=("mark_preempting",), framework="jax")


# IDQL's offline launcher (launcher/examples/train_ddpm_iql_offline.py): its constant_parameters
# with what its sweep adds for a locomotion dataset (critic_hyperparam 0.7, T 5, the VP schedule;
# the launcher reads the last two from keys its variants lack, so it cannot run unchanged) and one
# inference variant, the training-time N = 64 (the launcher evaluates N = 16, 64 and 256 in turn).
# The harness sets env_name, seed, max_steps, eval_interval, eval_episodes, rl_config.decay_steps
# and group.
IDQL_DETAILS: Mapping[str, Any] = {
    "project": "offline_schedule_final", "experiment_name": "ddpm_iql", "group": "",
    "env_name": "", "seed": 0, "max_steps": 3000001, "batch_size": 512, "eval_episodes": 50,
    "log_interval": 1000, "eval_interval": 250000, "save_video": False,
    "filter_threshold": None, "take_top": None, "online_max_steps": 0,
    "unsquash_actions": False, "normalize_returns": True,
    "training_time_inference_params": {"N": 64, "clip_sampler": True, "M": 0},
    "inference_variants": [{"N": 64, "clip_sampler": True, "M": 0}],
    "rl_config": {
        "model_cls": "DDPMIQLLearner", "actor_lr": 3e-4, "critic_lr": 3e-4, "value_lr": 3e-4,
        "T": 5, "N": 64, "M": 0, "actor_dropout_rate": 0.1, "actor_num_blocks": 3,
        "decay_steps": 3000000, "actor_layer_norm": True, "value_layer_norm": True,
        "actor_tau": 0.001, "beta_schedule": "vp", "critic_hyperparam": 0.7},
}

REFERENCES: dict[str, Reference] = {
    "corl/td3_bc": _corl("td3_bc", "td3_bc.py"),
    "corl/bc": _corl("bc", "any_percent_bc.py"),
    "corl/iql": _corl("iql", "iql.py"),
    # Cells run by benchmarks/parity/queue.sh (queue_cql_rebrac.sh for hopper medium); where each
    # stands: the coverage table of benchmarks/results/parity/README.md.
    "corl/cql": _corl("cql", "cql.py"),
    "corl/rebrac": _CORL_REBRAC,
    # JAX (jaxrl5); runs in its own virtual environment (README "IDQL").
    "idql/idql": Reference(
        name="idql/idql", repository=IDQL_REPOSITORY, commit=IDQL_COMMIT,
        script="examples/states/train_diffusion_offline.py", algorithm="idql", variant="ref",
        eval_function="evaluate", config_file="",
        flags={"env": "env_name", "steps": "max_steps", "eval_every": "eval_interval",
               "episodes": "eval_episodes", "seed": "seed"},
        config_class=None, entry="call_main", details=IDQL_DETAILS, steps_offset=1,
        steps_also=("rl_config.decay_steps",), returns_from="env", framework="jax",
        import_root=True, real_gym=True),
    # SfBC (PyTorch): train_behavior.py then train_critic.py, in its own virtual environment
    # (requirements-sfbc.txt; README "SfBC"). --steps and --eval_every count critic epochs; the
    # two harness flags below are read (and removed) by benchmarks.parity.sfbc, which sets --K and
    # --actor_load_epoch; the behavior stage's length comes from --reference_args.
    "sfbc/sfbc": Reference(
        name="sfbc/sfbc", repository=SFBC_REPOSITORY, commit=SFBC_COMMIT,
        script="train_critic.py", algorithm="sfbc_staged", variant="ref",
        eval_function="pallaral_eval_policy", config_file="",
        flags={"env": "env", "steps": "harness_critic_epochs",
               "eval_every": "harness_eval_every_epochs", "episodes": "seed_per_evaluation",
               "seed": "seed"},
        fixed_args=("--device=cpu",), config_class=None, import_root=True, real_gym=True,
        runner="benchmarks.parity.sfbc:run_seed",
        capture="train_critic.py's pallaral_eval_policy wrapped (benchmarks.parity.sfbc); "
                "steps and eval_every count critic epochs: the k-th kept evaluation is the one "
                "after k * eval_every epochs, the reference's others are answered without "
                "running episodes, and the run stops after the last kept one"),
    # ACA (PyTorch on d3rlpy 1.1.0): run_sacml.py (offline SAC+ML) then run_aca.py (alignment,
    # online fine-tuning), in its own virtual environment (requirements-aca.txt; README "ACA").
    # --steps and --eval_every count offline updates; --online_steps and --online_eval_every
    # (online env steps) come through --reference_args; benchmarks.parity.aca reads all four.
    "aca/aca": Reference(
        name="aca/aca", repository=ACA_REPOSITORY, commit=ACA_COMMIT, script="run_aca.py",
        algorithm="aca", variant="ref", eval_function="evaluate_on_environment",
        config_file="",
        flags={"env": "dataset", "steps": "harness_offline_updates",
               "eval_every": "harness_offline_eval_every", "episodes": "harness_episodes",
               "seed": "seed"},
        config_class=None, import_root=True, real_gym=True,
        runner="benchmarks.parity.aca:run_seed",
        capture="d3rlpy's evaluate_on_environment (offline scorer of run_sacml.py's fit, online "
                "scorer of run_aca.py's fit_online) built with n_trials = eval_episodes; "
                "episode returns counted by the harness's env, their mean checked against the "
                "scorer's; the k-th offline call is the evaluation after k * eval_every "
                "updates; online: one harness call at env step 0, then after every "
                "online_eval_every env steps (record['online'])"),
}


# --- MISA (sail-sg/MISA, JAX; runs in its own venv: benchmarks/parity/venv_reference.py) ---

MISA_REPOSITORY = "sail-sg/MISA"
MISA_COMMIT = "bd350e5ee650ad0a212d80a85c02b6fadea9104a"


@dataclasses.dataclass(frozen=True)
class VenvReference(Reference):
    """A reference run by ``venv_reference`` in a child process with its own venv's Python.

    For a JAX reference whose jax is too old for this project's code to import (MISA's
    2022-era code: jax 0.4.13, the oldest installable). ``eval_function`` may name a method
    (``"TrajSampler.sample"``); ``config_class`` names the module-level dict of its absl flags
    (recorded as its config); ``jax_aliases`` are restored in the child.

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


REFERENCES["official/misa"] = VenvReference(
    name="official/misa", repository=MISA_REPOSITORY, commit=MISA_COMMIT,
    script="experiments/main.py", algorithm="misa", variant="official",
    eval_function="TrajSampler.sample", config_file="",
    flags={"env": "env", "steps": "n_epochs", "eval_every": "n_train_step_per_epoch",
           "episodes": "eval_n_trajs", "seed": "seed"},
    # Epochs of eval_every updates (n_epochs = steps / eval_every) and eval_period=1: an
    # evaluation after every epoch (its epoch 0 is always evaluated), i.e. after k * eval_every
    # updates; its wandb/viskit logs go to a temporary folder.
    fixed_args=("--eval_period=1", "--logging.output_dir=<scratch_dir>"),
    config_class="FLAGS_DEF", steps_unit="epochs", jax_aliases=("tree_multimap",),
    framework="jax", entry_module="experiments.main",
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
    # IDQL's launcher: 1:1 actor/critic updates on batches of 512, AdamW (decay 1e-4) for the
    # diffusion model, the EMA at actor_tau from the first update, expectile 0.9 on AntMaze
    # (already ours through experiments/overrides.py) and 0.7 elsewhere (our default).
    ("idql/idql", "", {"batch_size": 512, "critic_batch_size": 512, "critic_every": 1,
                       "actor_weight_decay": 1e-4, "actor_ema_warmup": 0.0}),
    # SfBC's train_critic.py on the gym locomotion sets: a planning iteration is 100 epochs of
    # max(round(1M / N), 1) * N samples (N rows) at 4096 rows a batch: 245 batches (the last of
    # 576 rows) on the suite's 1M and 50k sets, so 24,500 critic steps (our default 24,400
    # counts 244); medium-replay and medium-expert sets have other N (README "SfBC"). Its
    # behavior stage, 600 epochs of 4M samples (977 batches), is our default behavior_steps;
    # the rest of ours is its settings already.
    ("sfbc/sfbc", r"^(hopper|walker2d|halfcheetah)-(medium|expert|random)-v2$",
     {"critic_steps": 24_500}),
)


# ACA's run_aca.py, every domain: ACA(...).load_model(model_500000.pt) restores every torch
# optimizer of the SAC+ML checkpoint too (d3rlpy 1.1.0's set_state_dict loads each Optimizer
# attribute), so fine-tuning keeps the offline Adam moments (the critic's own, where ours gives
# the aligned critic Z's). Its configs/{offline,online}/mjc_m.yaml (alpha 30, beta 7,
# interpolation [1, 40, 0.5], n_trajs 0, target entropy -|A|) are our Config defaults, and
# experiments/overrides.py holds its other MuJoCo/AntMaze files (README "ACA").
# d3rlpy builds its networks with torch.nn.Linear's default initialization: init_scheme.
OURS_CONFIG += (("aca/aca", "", {"reset_online_optimizers": False, "init_scheme": "pytorch"}),)
# MISA: the code draws its HMC chains from step size 1.0 at every update (TFP's
# SimpleStepSizeAdaptation over the 4 burn-in steps, at most 1% a step, restarts each update);
# ours carries an adapted step size across updates unless mcmc_adaptation_rate=0. Every other
# setting of its experiments/main.py and MISA.get_default_config() is our default.
OURS_CONFIG += (("official/misa", "", {"mcmc_adaptation_rate": 0.0}),)


# Training signals the harness captures from a reference's wandb.log calls
# (harness.run_seed, shims.MetricBlocks) paired with our train_metrics of the same definition,
# read from both sources: the parity tables print both sides at each evaluation. Only pairs whose
# definitions agree are listed (a level difference then means something).
METRIC_PAIRS: dict[str, dict[str, str]] = {
    # CORL td3_bc.py: critic_loss = mse(Q1, y) + mse(Q2, y); actor_loss = -lambda mean Q1 +
    # mse(pi, a), both ours' definitions (algorithms/td3_bc.py critic_loss, actor_loss).
    "corl/td3_bc": {"critic_loss": "critic/loss", "actor_loss": "actor/loss"},
    # CORL any_percent_bc.py: actor_loss = mse(pi(s), a), ours' actor/bc_mse.
    "corl/bc": {"actor_loss": "actor/bc_mse"},
    # CORL rebrac.py (epoch means of its Metrics, one epoch per evaluation block): critic_loss
    # = sum_i mean_B (Q_i - y)^2 with the penalized target, actor_loss = mean_B (beta ||pi - a||^2
    # - lambda min_i Q), bc_mse_policy = mean_B ||pi - a||^2: ours' critic/loss, actor/loss,
    # actor/bc_mse (algorithms/rebrac.py).
    "corl/rebrac": {"ReBRAC/critic_loss": "critic/loss", "ReBRAC/actor_loss": "actor/loss",
                    "ReBRAC/bc_mse_policy": "actor/bc_mse"},
}


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
    updates = steps
    if reference.steps_unit == "epochs":
        if eval_every <= 0 or steps % eval_every:
            raise ValueError(f"{reference.name} counts epochs of eval_every updates: steps "
                             f"({steps}) must be a positive multiple of eval_every ({eval_every})")
        steps //= eval_every
    values = {"env": env_name, "steps": steps + reference.steps_offset, "eval_every": eval_every,
              "episodes": episodes, "seed": seed}
    args = [f"--config_path=<reference_dir>/{config_file}"] if config_file else []
    args += [f"--{reference.flags[key]}={value}" for key, value in values.items()]
    args += [f"--{flag}={updates}" for flag in reference.steps_also]
    return args + list(reference.fixed_args) + shlex.split(extra)


def details_from_args(reference: Reference, args: list[str]) -> dict[str, Any]:
    """The settings dict for a ``details`` reference: ``reference.details`` with each
    ``--key=value`` (``--rl_config.N=256``) applied; values are Python literals, else strings.
    ``group`` (the wandb run name IDQL requires) defaults to ``<env>_<seed>``."""
    if reference.details is None:
        raise ValueError(f"{reference.name} takes its flags from sys.argv, not a details dict")
    details = copy.deepcopy(dict(reference.details))
    for arg in args:
        key, sep, text = arg[2:].partition("=")
        if not arg.startswith("--") or not sep:
            raise ValueError(f"{reference.name}: expected --key=value arguments, got {arg!r}")
        *parents, leaf = key.split(".")
        node = details
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise ValueError(f"{reference.name}: unknown setting {key!r} in {arg!r}; known: "
                             f"{sorted(_dotted_keys(details))}")
        try:
            node[leaf] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            node[leaf] = text
    if not details.get("group"):
        details["group"] = f"{details['env_name']}_{details['seed']}"
    return details


def _dotted_keys(tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        keys.append(prefix + key)
        if isinstance(value, Mapping):
            keys += _dotted_keys(value, f"{prefix}{key}.")
    return keys


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m benchmarks.parity.references REFERENCE DATASET  (prints our "
                 "--config.* flags matching the reference's settings on that dataset)")
    print(" ".join(ours_config_args(sys.argv[1], sys.argv[2])))
