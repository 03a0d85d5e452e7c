#!/usr/bin/env bash
# Issue 14's ACA parity cell: ours and the official ACA code (ZishunYu/Actor-Critic-Alignment,
# SAC+ML offline then aligned-critic fine-tuning) on the same arrays and budget, 3 seeds a side,
# 50k offline updates (10 episodes every 10k), then 20k online env steps with one update each
# (10 episodes every 1k), run one after another (background), resumable:
#   ACA_VENV=/tmp/refs/aca-venv WANDB_MODE=disabled nohup nice -n 10 \
#       benchmarks/parity/queue_aca.sh ACA_DIR [DATASET] >> ~/.jaxrl_offline/parity/queue_aca.log 2>&1 &
# ACA_VENV is the reference's virtual environment (benchmarks/parity/requirements-aca.txt says how
# to build it); DATASET defaults to jaxrl_offline/hopper/medium-v0.
# Budget: the reference ran 22.5 offline updates/s and 45-51 minutes per seed on one core beside
# another job (2026-12-07), so 50k + 20k is about issue 14's "40 minutes per seed". Ours runs with the
# OURS_CONFIG flags of benchmarks/parity/references.py (reset_online_optimizers=false,
# init_scheme=pytorch), its state under $JAXRL_OFFLINE_STATE/parity/ours-3 (resumes from its
# checkpoints), its record copied into benchmarks/results/parity/runs/; the reference resumes per
# finished seed (benchmarks/results/parity/reference_seeds/). Then the parity table is regenerated.
set -u
ACA_DIR=${1:?usage: $0 /path/to/Actor-Critic-Alignment [DATASET]}
export HARNESS_PYTHON=${ACA_VENV:?set ACA_VENV to the reference virtual environment}/bin/python
ONLINE="--online_steps=20000 --online_eval_every=1000"
# ACA_DIR without .git is an export of the pinned commit (the setup in the parity README).
export PINNED_EXPORT=1 OURS_ARGS_EXTRA="$ONLINE" REFERENCE_ARGS="$ONLINE" NUM_SEEDS=3 PART=all SEEDS=
"$(dirname "$0")/queue_reference.sh" aca/aca "$ACA_DIR" "${2:-jaxrl_offline/hopper/medium-v0}" \
    50000 10000 1000 || exit $?
echo "ACA PARITY QUEUE DONE: ${2:-jaxrl_offline/hopper/medium-v0}"
