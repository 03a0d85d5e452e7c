#!/usr/bin/env bash
# Issue 14's MISA parity cell: ours and the official MISA code (sail-sg/MISA, JAX 0.4.13 in its own
# venv, each seed a child process of it: benchmarks/parity/venv_reference.py) on the same arrays
# and budget, 3 seeds a side, one after another (background), resumable:
#   MISA_VENV=/tmp/refs/misa-venv WANDB_MODE=disabled nohup nice -n 10 \
#       benchmarks/parity/queue_misa.sh MISA_DIR [DATASET] >> ~/.jaxrl_offline/parity/queue_misa.log 2>&1 &
# MISA_VENV is the reference's virtual environment (benchmarks/parity/requirements-misa.txt; the
# parity README's MISA section builds it); MISA_DIR an export of the pinned commit (no .git: the
# commit is passed). DATASET defaults to jaxrl_offline/hopper/medium-v0.
# Budget (issue 14: "as many updates as fit in about 40 minutes per seed on one core, the same for
# both sides"), sized by the slower side: in one sitting on 2026-12-07 (benchmarks/results/parity/
# speed/official_misa__*; load 3.9-5.1) the official code ran 1.3 updates/s and ours 2.9, so
# 40 min x 1.3/s = 3.1k -> 3,000 updates, 10 episodes every 600 (ours in chunks of 200, a
# checkpoint after each). Ours runs with the OURS_CONFIG flags of benchmarks/parity/references.py
# (mcmc_adaptation_rate=0: the code's fixed HMC step size), its state under
# $JAXRL_OFFLINE_STATE/parity/ours-3; the reference resumes per finished seed
# (benchmarks/results/parity/reference_seeds/). Then the parity table is regenerated.
set -u
cd "$(dirname "$0")/../.."
MISA_DIR=${1:?usage: $0 /path/to/MISA [DATASET]}
DATASET=${2:-jaxrl_offline/hopper/medium-v0}
MISA_VENV=${MISA_VENV:?set MISA_VENV to the reference virtual environment}
COMMIT=${REFERENCE_COMMIT:-$(python -c "from benchmarks.parity import references; print(references.get_reference('official/misa').commit)")}
STATE=${JAXRL_OFFLINE_STATE:-$HOME/.jaxrl_offline}/parity/ours-3
BUDGET="--steps=3000 --eval_every=600 --eval_episodes=10"
OURS_ARGS=$(python -m benchmarks.parity.references official/misa "$DATASET") || exit 1
python -m experiments.run --algos=misa --datasets="$DATASET" --num_seeds=3 $BUDGET --chunk=200 \
    --checkpoint_every=1 --workdir="$STATE" --progress=false $OURS_ARGS || exit 1
cp "$STATE/runs/misa__$(echo "$DATASET" | tr '/' '_').json" benchmarks/results/parity/runs/
python -m benchmarks.parity.run_reference --reference=official/misa --reference_dir="$MISA_DIR" \
    --reference_commit="$COMMIT" --reference_python="$MISA_VENV/bin/python" --dataset="$DATASET" \
    --seeds=0,1,2 $BUDGET --workdir=benchmarks/results/parity || exit 1
python -m benchmarks.parity.tables
echo "MISA PARITY QUEUE DONE: $DATASET"
