"""The local suite.

The local D4RL-style suite: the shipped behavior policies (``behavior_policies/`` package data)
and their numpy forward pass, the deterministic rollouts, the locomotion and InvertedPendulum
dataset generators and the in-memory probes with known answers. Builds on
:mod:`jaxrl_offline.datasets` (formats, raw-data checks). Modules:
:mod:`~jaxrl_offline.local_suite.behavior`, :mod:`~jaxrl_offline.local_suite.character`,
:mod:`~jaxrl_offline.local_suite.envs`,
:mod:`~jaxrl_offline.local_suite.locomotion`, :mod:`~jaxrl_offline.local_suite.rollout`,
:mod:`~jaxrl_offline.local_suite.suite`, :mod:`~jaxrl_offline.local_suite.synthetic`.
"""
