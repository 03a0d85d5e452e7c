"""One seed of SfBC's reference (``ChenDRAG/SfBC``, PyTorch): its two stages through the harness.

The reference is two scripts run one after the other with the same flags (its README):
``train_behavior.py`` (``behavior(args)``: ``n_behavior_epochs`` epochs of the score model, a
checkpoint every 25 epochs under ``./models/<expid>/``) and ``train_critic.py`` (``critic(args)``:
loads the checkpoint ``ckpt<actor_load_epoch>.pth``, draws 16 behavior actions per dataset state
once, then trains Q for ``K * 100 - 1`` epochs, rebuilding its targets after epochs 99, 199, ...
and evaluating after epoch 0 and every fifth epoch, ``epoch % 5 == 4``). Both parse ``sys.argv``
with ``utils.get_args`` (``parse_known_args``). :func:`run_seed` imports both scripts unchanged
(the checkout on ``sys.path``: they import its ``dataset``, ``diffusion_SDE`` and ``utils``) and
calls ``behavior(get_args())`` and then ``critic(get_args())`` in a scratch directory, with the
one line of ``train_critic.py``'s ``__main__`` block applied (``sample_per_epoch`` = 1M, 2M on
AntMaze).

Harness units (``references.REFERENCES["sfbc/sfbc"]``): ``--steps`` and ``--eval_every`` count
**critic epochs**, the unit of the reference's evaluation schedule. The reference evaluates after
1, 5, 10, 15, ... epochs; the harness keeps the evaluations after ``k * eval_every`` epochs
(``eval_every`` a multiple of 5, or 1 with ``steps`` 1), answers the others without running an
episode, and stops the script after the evaluation at ``steps`` epochs (``--K`` is set to the
smallest value whose ``K * 100 - 1`` epochs reach ``steps``). The behavior stage's length is the
reference's own flags (``--n_behavior_epochs``, ``--sample_per_epoch``, ``--batch_size``) through
``--reference_args``; ``--actor_load_epoch`` is set to ``n_behavior_epochs``.

Stand-ins while it runs, besides the harness's ``gym.make``/``d4rl``: ``Diffusion_buffer
.update_returns`` moves its batches to ``"cuda"`` by name; on a machine without CUDA,
``Tensor.to("cuda")`` is ``Tensor.to("cpu")`` (:func:`cuda_on_cpu`). The data check compares the
buffer's arrays (``Diffusion_buffer._load_data``: every ``get_dataset`` row, ``done`` =
terminals | timeouts) with ``get_dataset``'s, which the binding's check compares with the
project's arrays.
"""

from __future__ import annotations

import contextlib
import math
import os
import pathlib
import tempfile
import time
from collections.abc import Iterator, Sequence

import numpy as np

from benchmarks.parity import d4rl_arrays, harness, shims

HARNESS_FLAGS = ("harness_critic_epochs", "harness_eval_every_epochs")
SET_BY_HARNESS = ("K", "actor_load_epoch", "evaluate_while_training_critic")
CHECKPOINT_EVERY = 25  # train_behavior.py saves ckpt<epoch + 1>.pth when epoch % 25 == 24.
EPOCHS_PER_ITERATION = 100  # train_critic.py: n_epochs = K * 100 - 1; targets rebuilt at 99, ...
BATCH_SIZE = 4096  # utils.get_args' --batch_size, both stages.
CRITIC_SAMPLES = 1_000_000  # train_critic.py's __main__: sample_per_epoch (2M on AntMaze).


class _Stop(Exception):
    """Raised by the evaluation wrapper after the last evaluation the harness asked for."""


def eval_epochs(call: int) -> int:
    """Critic epochs done at the reference's ``call``-th evaluation (0-based): 1, 5, 10, ..."""
    return 1 if call == 0 else 5 * call


def split_args(args: Sequence[str]) -> tuple[list[str], int, int]:
    """(the reference's own arguments, critic epochs, epochs between evaluations) from the
    harness's argument list (``references.command_args``)."""
    own, values = [], {}
    for arg in args:
        key = arg[2:].partition("=")[0]
        if key in HARNESS_FLAGS:
            values[key] = int(arg.partition("=")[2])
        elif key in SET_BY_HARNESS:
            raise ValueError(f"sfbc/sfbc: {arg!r} is the harness's to set (--K follows --steps, "
                             "--actor_load_epoch --n_behavior_epochs, and the critic stage must "
                             "evaluate); drop it")
        else:
            own.append(arg)
    steps, every = (values.get(name) for name in HARNESS_FLAGS)
    if steps is None or every is None:
        raise ValueError(f"sfbc/sfbc needs {HARNESS_FLAGS} (references.command_args)")
    if every <= 0 or steps % every or (every % 5 and (every, steps) != (1, 1)):
        raise ValueError(f"sfbc/sfbc evaluates after 1, 5, 10, ... critic epochs: --eval_every "
                         f"must be a multiple of 5 dividing --steps (or 1 with --steps=1), got "
                         f"--steps={steps} --eval_every={every}")
    return own, steps, every


def stage_args(own: Sequence[str], steps: int) -> list[str]:
    """The reference's flags for both stages: ``own`` plus ``--K`` and ``--actor_load_epoch``."""
    behavior_epochs = 600  # utils.get_args' default.
    for arg in own:
        if arg.startswith("--n_behavior_epochs="):
            behavior_epochs = int(arg.partition("=")[2])
    if behavior_epochs <= 0 or behavior_epochs % CHECKPOINT_EVERY:
        raise ValueError(f"sfbc/sfbc: --n_behavior_epochs={behavior_epochs}: the behavior stage "
                         f"saves its model every {CHECKPOINT_EVERY} epochs only; use a multiple")
    iterations = steps // EPOCHS_PER_ITERATION + 1  # K * 100 - 1 >= steps.
    return [*own, f"--K={iterations}", f"--actor_load_epoch={behavior_epochs}"]


def epoch_steps(num_rows: int, samples: int, batch_size: int = BATCH_SIZE) -> int:
    """Gradient steps in one of the reference's epochs: ``dataset.Diffusion_buffer`` repeats its
    ``num_rows`` rows max(round(samples / num_rows), 1) times, shuffled, in batches of
    ``batch_size``, the last one partial (245 critic steps on 50k or 1M rows, 489 on 2M; 13
    behavior steps on 50k rows with ``--sample_per_epoch=1``, one pass)."""
    repeats = max(round(samples / num_rows), 1)
    return math.ceil(repeats * num_rows / batch_size)


def ours_budget_args(num_rows: int, behavior_epochs: int, critic_epochs: int,
                     eval_every_epochs: int) -> list[str]:
    """``experiments.sfbc_staged`` flags for the reference's budget in its units: as many
    behavior steps as ``behavior_epochs`` one-pass epochs (``--sample_per_epoch=1``) and as many
    critic steps as ``critic_epochs`` epochs, evaluated every ``eval_every_epochs`` epochs (after
    ``references.ours_config``'s flags, which these override).

    The budget stays inside the reference's first planning iteration (``critic_epochs`` at most
    99: ``K`` = 1, Q regressed on the Monte-Carlo returns) so that both sides stop at the same
    critic step; ours' ``planning_iterations`` is set to 1 to match."""
    if not 0 < critic_epochs < EPOCHS_PER_ITERATION:
        raise ValueError(f"critic_epochs={critic_epochs}: a parity budget stays inside the first "
                         f"planning iteration (1 to {EPOCHS_PER_ITERATION - 1} epochs), where "
                         "both sides stop at the same critic step")
    split_args([f"--harness_critic_epochs={critic_epochs}",  # The harness's own checks.
                f"--harness_eval_every_epochs={eval_every_epochs}"])
    stage_args([f"--n_behavior_epochs={behavior_epochs}"], critic_epochs)
    behavior_steps = behavior_epochs * epoch_steps(num_rows, 1)
    per_epoch = epoch_steps(num_rows, CRITIC_SAMPLES)
    critic_steps, eval_every = critic_epochs * per_epoch, eval_every_epochs * per_epoch
    chunk = math.gcd(behavior_steps, math.gcd(critic_steps, eval_every))
    return [f"--config.behavior_steps={behavior_steps}", f"--config.critic_steps={critic_steps}",
            "--config.planning_iterations=1", f"--eval_every={eval_every}", f"--chunk={chunk}"]


@contextlib.contextmanager
def cuda_on_cpu() -> Iterator[bool]:
    """Without CUDA, ``Tensor.to("cuda")`` moves to the CPU while the block runs (SfBC's
    ``update_returns`` names the device). Yields whether it patched."""
    import torch

    if torch.cuda.is_available():
        yield False
        return
    original = torch.Tensor.to

    def on_cpu(value):
        return "cpu" if isinstance(value, str) and value.startswith("cuda") else value

    def to(self, *args, **kwargs):
        args = tuple(on_cpu(arg) for arg in args)
        if "device" in kwargs:
            kwargs["device"] = on_cpu(kwargs["device"])
        return original(self, *args, **kwargs)

    torch.Tensor.to = to
    try:
        yield True
    finally:
        torch.Tensor.to = original


class _Skipped:
    """An evaluation env the harness did not run (the reference reads only ``dbag_return``)."""

    dbag_return = float("nan")


class EvalSelection:
    """Wraps ``pallaral_eval_policy``: runs the evaluations after ``k * eval_every`` critic
    epochs, keeps their episode returns and wall times, and stops the script after ``steps``.

    Attributes:
      returns: one [episodes] array per kept evaluation.
      calls: (start, end) ``time.perf_counter()`` of each kept evaluation.
    """

    def __init__(self, function, steps: int, eval_every: int):
        self.function, self.steps, self.eval_every = function, steps, eval_every
        self.count = 0
        self.returns: list[np.ndarray] = []
        self.calls: list[tuple[float, float]] = []

    def __call__(self, policy_fn, *args, **kwargs):
        epochs, self.count = eval_epochs(self.count), self.count + 1
        if epochs % self.eval_every or epochs > self.steps:
            return [_Skipped() for _ in range(kwargs.get("eval_episodes", 20))]
        start = time.perf_counter()
        envs = self.function(policy_fn, *args, **kwargs)
        self.calls.append((start, time.perf_counter()))
        self.returns.append(np.array([env.dbag_return for env in envs], np.float64))
        if epochs == self.steps:
            raise _Stop
        return envs


def check_buffer(binding: shims.Binding, data: dict) -> dict:
    """Checks ``Diffusion_buffer._load_data``'s arrays against ``get_dataset``'s (every row,
    ``done`` = terminals | timeouts, ``is_finished`` = terminals) and ``get_dataset``'s against
    the project's (``binding.check``); returns the summary."""
    dataset = binding.dataset
    expected = {"states": dataset["observations"], "actions": dataset["actions"],
                "rewards": dataset["rewards"][:, None],
                "done": (dataset["terminals"] | dataset["timeouts"])[:, None],
                "is_finished": dataset["terminals"][:, None]}
    for key, value in expected.items():
        if data[key].shape != value.shape or not np.array_equal(data[key], value):
            raise d4rl_arrays.ParityError(f"SfBC's buffer[{key!r}] is not get_dataset's")
    # The binding's check compares get_dataset with the project's arrays (its D4RL-reduction
    # counts describe qlearning_dataset, which SfBC does not call: it trains on every row).
    summary = (binding.check(dataset, d4rl_arrays.qlearning_dataset(dataset))
               if binding.check is not None else {})
    return {"reference_rows": len(data["states"]), "project_transitions": len(dataset["rewards"]),
            "reference_done": int(data["done"].sum()),
            "reference_is_finished": int(data["is_finished"].sum()),
            "get_dataset_vs_project": summary}


def _wrap(module, name: str, before):
    original = getattr(module, name)

    def wrapped(*args, **kwargs):
        before(*args, **kwargs)
        return original(*args, **kwargs)

    setattr(module, name, wrapped)
    return original


def _load_stages(critic_script: pathlib.Path, binding: shims.Binding, marks: dict,
                 steps_per_epoch: dict):
    """Imports both stage scripts (the checkout on ``sys.path``) with the buffer's data check
    and the timing marks wrapped in; returns ``(train_behavior module, train_critic module)``."""
    from dataset import dataset as buffer_module  # The checkout's, on sys.path.

    load = buffer_module.Diffusion_buffer._load_data

    def checked_load(self, parsed):
        data = load(self, parsed)
        binding.checks.append(check_buffer(binding, data))
        return data

    buffer_module.Diffusion_buffer._load_data = checked_load
    behavior = harness.load_script(critic_script.parent / "train_behavior.py",
                                   "parity_reference_sfbc_behavior")
    critic = harness.load_script(critic_script, "parity_reference_sfbc_critic")
    _wrap(behavior, "train_behavior", lambda _, __, loader, ___: steps_per_epoch.update(
        behavior=len(loader)))
    _wrap(critic, "train_critic", lambda *a, **k: (marks.update(critic=time.perf_counter()),
                                                   steps_per_epoch.update(critic=len(a[2]))))
    return behavior, critic


def run_seed(reference, reference_dir: pathlib.Path, binding: shims.Binding,
             args: Sequence[str], seed: int) -> harness.SeedResult:
    """Runs both stages of the reference once (one seed) and returns the kept evaluations.

    ``train_s[0]`` counts from the first critic step (after the behavior stage, the checkpoint
    load and the presampling, whose seconds are in ``config["harness"]``)."""
    own, steps, eval_every = split_args(args)
    argv = stage_args(own, steps)
    os.environ.setdefault("WANDB_MODE", "disabled")
    binding.checks.clear()
    marks: dict[str, float] = {"start": time.perf_counter()}
    steps_per_epoch: dict[str, int] = {}
    with (shims.install(binding, real_gym=reference.real_gym),
          harness._import_root(reference_dir), cuda_on_cpu(),
          tempfile.TemporaryDirectory(prefix="sfbc_") as scratch, contextlib.chdir(scratch),
          harness._argv([str(reference_dir / reference.script), *argv])):
        behavior, critic = _load_stages(reference_dir / reference.script, binding, marks,
                                        steps_per_epoch)
        capture = EvalSelection(critic.pallaral_eval_policy, steps, eval_every)
        critic.pallaral_eval_policy = capture
        parsed = behavior.get_args()
        behavior.behavior(parsed)
        marks["behavior"] = time.perf_counter()
        parsed = critic.get_args()
        # train_critic.py's __main__ block, which an import does not run:
        parsed.sample_per_epoch = 2_000_000 if "antmaze" in parsed.env else 1_000_000
        config = {key: value for key, value in vars(parsed).items()
                  if isinstance(value, (int, float, str, bool, type(None)))}
        try:
            critic.critic(parsed)
        except _Stop:
            pass
        else:
            raise RuntimeError(f"sfbc/sfbc ended before the evaluation after {steps} critic "
                               f"epochs (K={parsed.K})")
    if not binding.checks:
        raise d4rl_arrays.ParityError("SfBC never loaded its Diffusion_buffer")
    starts = np.array([start for start, _ in capture.calls])
    ends = np.array([end for _, end in capture.calls])
    previous = np.concatenate([[marks["critic"]], ends[:-1]])
    config["harness"] = {
        "behavior_s": marks["behavior"] - marks["start"],
        "critic_setup_s": marks["critic"] - marks["behavior"],
        "behavior_steps": steps_per_epoch["behavior"] * parsed.n_behavior_epochs,
        "critic_steps_per_epoch": steps_per_epoch["critic"],
        "critic_steps": steps_per_epoch["critic"] * steps}
    return harness.SeedResult(seed=seed, argv=list(args), returns=np.stack(capture.returns),
                              eval_s=ends - starts, train_s=starts - previous,
                              data_check=binding.checks[0], config=config)



if __name__ == "__main__":  # benchmarks/parity/queue_sfbc.sh: ours' flags for a budget.
    import sys

    # The rows the reference's buffer keeps: every get_dataset row.
    _dataset, *_epochs = sys.argv[1:]
    _rows = len(d4rl_arrays.get_dataset(_dataset)["rewards"])
    print(" ".join(ours_budget_args(_rows, *map(int, _epochs))))
