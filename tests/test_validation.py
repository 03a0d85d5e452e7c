"""Bad data and bad settings are refused before the first update, one message each.

Each case runs the sweep entry point (``sweep.run_all`` or the CLI) with ``experiment._train``
replaced by a failure, so a test passes only if the error comes before any update; it also checks
that no record or checkpoint was written. Data comes from the project's generators at tiny sizes:
InvertedPendulum rollouts (``synthetic.rollout_inverted_pendulum``) written as D4RL files
(``synthetic.write_d4rl_hdf5``) and a 1,000-step Minari dataset.
"""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
from absl import app, flags

from experiments import cli, sweep
from jaxrl_offline.reporting import results
from jaxrl_offline.runner import experiment
from jaxrl_offline.datasets.data import DatasetError
from jaxrl_offline.local_suite.synthetic import (make_inverted_pendulum_dataset,
                                                 rollout_inverted_pendulum, write_d4rl_hdf5)

INVPEND = "?env=InvertedPendulum-v5"
TINY = dict(algos=("bc",), num_seeds=1, steps=50, chunk=50, eval_every=0, eval_episodes=1,
            max_episode_steps=20, checkpoint_every=1,
            config={"actor_hidden_dims": (32, 32), "batch_size": 32})


@pytest.fixture(scope="module")
def episodes():
    return rollout_inverted_pendulum("medium", 300, (0,), num_envs=2)


def columns(episodes):
    """D4RL columns (observations, actions, rewards, terminals, timeouts) of rollout episodes."""
    obs = np.concatenate([e["obs"][:-1] for e in episodes])
    timeouts = np.concatenate([np.arange(len(e["reward"])) == len(e["reward"]) - 1
                               for e in episodes]) & ~np.concatenate(
        [e["terminal"] for e in episodes])
    return dict(observations=obs, actions=np.concatenate([e["action"] for e in episodes]),
                rewards=np.concatenate([e["reward"] for e in episodes]),
                terminals=np.concatenate([e["terminal"] for e in episodes]), timeouts=timeouts)


def write(path, **arrays):
    import h5py

    with h5py.File(path, "w") as file:
        for key, value in arrays.items():
            file.create_dataset(key, data=value)
    return f"d4rl:{path}"


@pytest.fixture
def no_training(monkeypatch):
    def fail(*args, **kwargs):
        pytest.fail("an update ran before the error")

    monkeypatch.setattr(experiment, "_train", fail)


def run_sweep(workdir, *datasets, **changes):
    runs = sweep.plan_runs(sweep.SweepSettings(**{**TINY, "datasets": datasets, **changes}))
    return sweep.run_all(runs, str(workdir), progress=False)


def assert_nothing_written(workdir):
    workdir = pathlib.Path(workdir)
    assert not list(workdir.glob("runs/*.json")) and not (workdir / "checkpoints").exists()


def random_d4rl(path, obs_dim, action_dim, n=200):
    rng = np.random.default_rng(0)
    return write_d4rl_hdf5(str(path), rng.normal(size=(n, obs_dim)),
                           rng.uniform(-1, 1, (n, action_dim)), rng.normal(size=n),
                           np.zeros(n, bool), np.arange(n) % 50 == 49)


@pytest.mark.parametrize("obs_dim, action_dim", [(7, 3), (17, 6)])  # 7-dim; a halfcheetah file
def test_data_not_matching_the_eval_env_spaces(tmp_path, no_training, obs_dim, action_dim):
    path = random_d4rl(tmp_path / "hopper-medium-v2.hdf5", obs_dim, action_dim)
    with pytest.raises(DatasetError, match=(
            rf"'d4rl:{path}' does not fit its evaluation env 'Hopper-v5': the data has "
            rf"obs_dim={obs_dim}, action_dim={action_dim}; the env has obs_dim=11, action_dim=3")):
        run_sweep(tmp_path, f"d4rl:{path}")
    assert_nothing_written(tmp_path)


def test_unknown_env_names(tmp_path, no_training):
    path = random_d4rl(tmp_path / "mystery.hdf5", 11, 3)
    with pytest.raises(DatasetError, match=r"names no evaluation env.*'d4rl:PATH.hdf5\?env="):
        run_sweep(tmp_path, f"d4rl:{path}")
    with pytest.raises(DatasetError, match=r"evaluation env 'Hopper-v99' cannot be made "
                                           r"\(VersionNotFound"):
        run_sweep(tmp_path, f"d4rl:{path}?env=Hopper-v99")
    assert_nothing_written(tmp_path)


def test_bad_values_are_refused_with_what_was_found(tmp_path, episodes, no_training):
    good = columns(episodes)
    half = write(tmp_path / "half.hdf5", **{**good, "terminals": np.full(len(good["rewards"]),
                                                                          0.5)})
    with pytest.raises(DatasetError, match=r"'terminals' has \d+ of \d+ entries that are not 0 "
                                           r"or 1 \(dtype float64, e.g. \[0.5\]\)"):
        run_sweep(tmp_path, half + INVPEND)
    obs = good["observations"].copy()
    obs[3, 1] = 2e34  # What random bytes read as float32 look like.
    garbage = write(tmp_path / "garbage.hdf5", **{**good, "observations": obs})
    with pytest.raises(DatasetError, match=r"'observations' \(dtype float32\) holds values up to "
                                           r"2e\+34 in magnitude \(largest at row 3; 1 of"):
        run_sweep(tmp_path, garbage + INVPEND)
    assert_nothing_written(tmp_path)


def test_truncated_files_are_named(tmp_path, minari_root, episodes, no_training):
    path = pathlib.Path(write(tmp_path / "cut.hdf5", **columns(episodes))[len("d4rl:"):])
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(DatasetError, match=rf"D4RL file '{path}' \(dataset 'd4rl:{path}"
                                           r"\?env=InvertedPendulum-v5'\) cannot be read by "
                                           r"h5py .*truncated"):
        run_sweep(tmp_path, f"d4rl:{path}{INVPEND}")
    make_inverted_pendulum_dataset("test/cut/medium-v0", kind="medium", num_transitions=300,
                                   seed=0, root=str(minari_root), num_envs=2)
    main_data = minari_root / "test/cut/medium-v0/data/main_data.hdf5"
    main_data.write_bytes(main_data.read_bytes()[: main_data.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"'test/cut/medium-v0'.*(main_data.hdf5|cannot read)"):
        run_sweep(tmp_path, "test/cut/medium-v0")
    assert_nothing_written(tmp_path)


def test_actions_outside_bounds_warn_on_the_console_and_in_the_record(tmp_path, episodes,
                                                                      capsys):
    good = columns(episodes)
    actions = good["actions"] / 3.0  # D4RL files hold actions in [-1, 1] (env bounds [-3, 3]).
    actions[:40] = 5.0
    spec = write(tmp_path / "loud.hdf5", **{**good, "actions": actions}) + INVPEND
    run_sweep(tmp_path, spec)
    out = capsys.readouterr().out
    # The last step is dropped (its next observation is unknown): 299 transitions.
    assert out.count("warning: Dataset") == 1 and "40 of 299 action entries lie outside" in out
    (record,) = results.load_records(tmp_path)
    assert len(record["warnings"]) == 1 and "40 of 299 action entries" in record["warnings"][0]


def test_every_dataset_of_a_sweep_is_checked_before_the_first_run(tmp_path, minari_root,
                                                                   no_training):
    make_inverted_pendulum_dataset("test/ok/medium-v0", kind="medium", num_transitions=300,
                                   seed=0, root=str(minari_root), num_envs=2)
    with pytest.raises(DatasetError, match="test/ok/mediun-v0"):
        run_sweep(tmp_path, "test/ok/medium-v0", "test/ok/mediun-v0")
    assert_nothing_written(tmp_path)


def test_numeric_settings_are_range_checked():
    cases = {"num_seeds": 0, "seed": -1, "eval_episodes": 0, "max_episode_steps": 0,
             "checkpoint_every": -1, "steps": 0, "online_update_every": 0}
    for name, value in cases.items():
        with pytest.raises(ValueError, match=rf"--{name}={value} is out of range"):
            sweep.plan_runs(sweep.SweepSettings(**{**TINY, "datasets": ("x/y-v0",),
                                                   name: value}))
    with pytest.raises(ValueError, match="--eval_episodes=1.5 must be a whole number"):
        sweep.plan_runs(sweep.SweepSettings(**{**TINY, "datasets": ("x/y-v0",),
                                               "eval_episodes": 1.5}))


def test_make_datasets_numbers_are_range_checked(tmp_path):
    # A subprocess: make_datasets and the runner both define --seed in absl's global FLAGS.
    result = subprocess.run(
        [sys.executable, "-m", "experiments.make_datasets", "--envs=hopper", "--kinds=random",
         "--num_envs=0", f"--root={tmp_path}"], capture_output=True, text=True, timeout=120,
        cwd=pathlib.Path(__file__).parents[1])
    assert result.returncode != 0
    assert "--num_envs=0 is out of range: envs stepped in lockstep must be >= 1" in result.stderr
    assert "nothing was generated" in result.stderr and not list(tmp_path.iterdir())


def test_cli_reports_flag_and_dataset_errors_in_one_message(tmp_path, minari_root, no_training):
    base = ["run", "--algos=bc", "--steps=50", "--chunk=50", "--eval_every=0",
            f"--workdir={tmp_path}", "--progress=false"]
    try:
        with pytest.raises(app.UsageError, match="--eval_episodes=0 is out of range"):
            cli.main(cli.parse_args([*base, "--datasets=test/none/medium-v0",
                                     "--eval_episodes=0"]))
        flags.FLAGS.unparse_flags()
        with pytest.raises(SystemExit, match=r"^error: .*'test/none/medium-v0'") as error:
            cli.main(cli.parse_args([*base, "--datasets=test/none/medium-v0"]))
        assert error.value.__cause__ is None and error.value.__suppress_context__
    finally:
        flags.FLAGS.unparse_flags()
    assert_nothing_written(tmp_path)
