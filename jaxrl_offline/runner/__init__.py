"""The runner.

The runner: in-graph training chunks over vmapped seeds, batched evaluation, dataset-vs-env
validation, the online loop, fine-tuning, the experiment loop (one run: resume, evaluate, record),
checkpoints, the device replay buffer, progress and live tracking. The top layer: it may import
every other one. Modules: :mod:`~jaxrl_offline.runner.checkpoints`,
:mod:`~jaxrl_offline.runner.distributed`, :mod:`~jaxrl_offline.runner.evaluation`,
:mod:`~jaxrl_offline.runner.experiment`, :mod:`~jaxrl_offline.runner.finetune`,
:mod:`~jaxrl_offline.runner.grid`, :mod:`~jaxrl_offline.runner.grid_run`,
:mod:`~jaxrl_offline.runner.online`, :mod:`~jaxrl_offline.runner.online_buffers`,
:mod:`~jaxrl_offline.runner.progress`,
:mod:`~jaxrl_offline.runner.replay_buffer`, :mod:`~jaxrl_offline.runner.run_record`,
:mod:`~jaxrl_offline.runner.run_spec`, :mod:`~jaxrl_offline.runner.tracking`,
:mod:`~jaxrl_offline.runner.training`, :mod:`~jaxrl_offline.runner.validation`.
"""
