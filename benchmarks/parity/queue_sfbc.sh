#!/usr/bin/env bash
# Issue 14's SfBC parity cell: ours (experiments.sfbc_staged) and the official SfBC code
# (ChenDRAG/SfBC, PyTorch, the harness in its venv) on the same arrays with the same numbers of
# behavior-model and critic steps, 3 seeds a side, background, resumable:
#   SFBC_VENV=/tmp/refs/sfbc-venv WANDB_MODE=disabled nohup nice -n 10 \
#       benchmarks/parity/queue_sfbc.sh SFBC_DIR [DATASET] >> ~/.jaxrl_offline/parity/queue_sfbc.log 2>&1 &
# [PART=ours|reference|all] [NUM_SEEDS=3] [SEEDS=k] [BEHAVIOR_EPOCHS=50] [CRITIC_EPOCHS=20]
# [EVAL_EVERY_EPOCHS=5]. DATASET defaults to jaxrl_offline/hopper/medium-50k-v0.
# Budget in the reference's units (benchmarks/parity/sfbc.py ours_budget_args gives ours' flags):
# BEHAVIOR_EPOCHS one-pass behavior epochs (--sample_per_epoch=1: 13 steps of 4,096 rows on 50k
# rows, so 650 steps), presampling at the default 15 solver steps, CRITIC_EPOCHS critic epochs
# (245 steps each: 4,900) inside the first planning iteration (K = 1, Q on Monte-Carlo returns;
# ours --config.planning_iterations=1), 10 episodes every EVAL_EVERY_EPOCHS epochs (1,225 steps).
# Why these numbers (issue 14: "as many as fit in about 40 minutes per seed on one core"): on this
# machine the official code's behavior step costs about 1 s (ScoreNet, 4,096 rows), presampling
# 16 actions x 50,000 states at 15 solver steps about 10-15 min and a critic step 54 ms
# (benchmarks/parity/README.md "SfBC"), so 650 + presampling + 4,900 is 30-40 min a seed. On the
# 1M sets presampling alone is 20x longer (hours a seed), so the CPU cell uses medium-50k; the
# 1M and mixed sets need a GPU. Ours: checkpointed every 10 stage chunks (the default) under
# $JAXRL_OFFLINE_STATE/parity/ours-<NUM_SEEDS>, its record copied into
# benchmarks/results/parity/runs/; the reference through queue_reference.sh (PART=reference: a
# finished seed is cached, SEEDS=k for a second core), then the parity table.
set -u
cd "$(dirname "$0")/../.."
SFBC_DIR=${1:?usage: $0 /path/to/SfBC [DATASET]}
DATASET=${2:-jaxrl_offline/hopper/medium-50k-v0}
BEHAVIOR_EPOCHS=${BEHAVIOR_EPOCHS:-50}; CRITIC_EPOCHS=${CRITIC_EPOCHS:-20}
EVAL_EVERY_EPOCHS=${EVAL_EVERY_EPOCHS:-5}; NUM_SEEDS=${NUM_SEEDS:-3}; PART=${PART:-all}
: "${SFBC_VENV:?set SFBC_VENV to the reference virtual environment}"
# Checked before anything runs (a budget the reference cannot take fails here, not in hour two).
OURS_BUDGET=$(python -m benchmarks.parity.sfbc "$DATASET" "$BEHAVIOR_EPOCHS" "$CRITIC_EPOCHS" \
    "$EVAL_EVERY_EPOCHS") || exit 1
if [ "$PART" != reference ]; then
  STATE=${JAXRL_OFFLINE_STATE:-$HOME/.jaxrl_offline}/parity/ours-$NUM_SEEDS
  OURS_ARGS=$(python -m benchmarks.parity.references sfbc/sfbc "$DATASET") || exit 1
  python -m experiments.sfbc_staged --dataset="$DATASET" --num_seeds="$NUM_SEEDS" \
      --eval_episodes=10 --workdir="$STATE" $OURS_ARGS $OURS_BUDGET || exit 1
  cp "$STATE/runs/sfbc_staged__$(echo "$DATASET" | tr '/' '_').json" benchmarks/results/parity/runs/
fi
if [ "$PART" != ours ]; then
  # The CHUNK argument (1) is ours' and unused here.
  PART=reference NUM_SEEDS=$NUM_SEEDS HARNESS_PYTHON=$SFBC_VENV/bin/python PINNED_EXPORT=1 \
      REFERENCE_ARGS="--n_behavior_epochs=$BEHAVIOR_EPOCHS --sample_per_epoch=1" \
      benchmarks/parity/queue_reference.sh sfbc/sfbc "$SFBC_DIR" "$DATASET" "$CRITIC_EPOCHS" \
      "$EVAL_EVERY_EPOCHS" 1 || exit 1
fi
python -m benchmarks.parity.tables
echo "SFBC PARITY QUEUE DONE ($PART): $DATASET"
