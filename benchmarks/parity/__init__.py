"""Parity harness: reference implementations run unchanged on the project's own datasets.

A reference script (e.g. CORL's ``algorithms/offline/td3_bc.py``) imports ``gym`` and ``d4rl``;
:mod:`benchmarks.parity.shims` puts stand-ins for both in ``sys.modules`` so that
``gym.make("hopper-medium-v2")`` returns an old-gym-API facade over the dataset's Gymnasium v5
evaluation env and ``d4rl.qlearning_dataset(env)`` returns the project's arrays exactly as D4RL
would (:mod:`benchmarks.parity.d4rl_arrays`). :mod:`benchmarks.parity.run_reference` launches a
checked-out reference with them, captures its evaluations by wrapping its evaluation function, and
writes them as a run record of the project's schema marked as a reference run
(:mod:`benchmarks.parity.records`). A JAX reference on older jax (the official MISA code) runs
in a child process of its own venv (:mod:`benchmarks.parity.venv_reference`). No reference code
is stored in this repository; the README names the exact commit each reference was run at.
"""
