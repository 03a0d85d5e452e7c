#!/usr/bin/env bash
# Issue 14's parity cell of one reference on one dataset (any reference of references.py: CORL's
# through queue.sh; IDQL with the harness in its venv, MISA with each seed a child process of its
# venv), background, resumable:
#   [HARNESS_PYTHON=<venv>/bin/python] [REFERENCE_PYTHON=<venv>/bin/python] [PART=ours|reference|all] \
#   [NUM_SEEDS=3] [SEEDS=0,1,2] [OURS_SEEDS=k,...] [REFERENCE_COMMIT=<sha>] [OURS_ARGS_EXTRA=...] \
#   [REFERENCE_ARGS=...] \
#   WANDB_MODE=disabled nohup nice -n 10 \
#       benchmarks/parity/queue_reference.sh REFERENCE REFERENCE_DIR DATASET STEPS EVAL_EVERY CHUNK >> LOG 2>&1 &
# Ours: the runner with the reference-matching --config.* flags (references.py OURS_CONFIG), seeds
# 0..NUM_SEEDS-1 vmapped (plus OURS_ARGS_EXTRA, e.g. ACA's online phase; REFERENCE_ARGS goes to
# the reference as --reference_args), a checkpoint after every CHUNK updates, state under
# $JAXRL_OFFLINE_STATE/parity/ours-<NUM_SEEDS> (a seed count has its own workdir; a finished run is
# skipped), its record copied into benchmarks/results/parity/runs/; with OURS_SEEDS=k[,k...]
# (a side longer than one session, whose checkpoints a new machine would not have) each of those
# seeds runs alone under ours-seed<k>, its finished record is kept in the committed
# benchmarks/results/parity/ours_seeds/, and once seeds 0..NUM_SEEDS-1 are all there they are
# merged into the NUM_SEEDS-seed record (benchmarks/parity/ours_seeds.py). The reference: run_reference
# for SEEDS (default 0..NUM_SEEDS-1), each finished seed kept in
# benchmarks/results/parity/reference_seeds/ (a seed's updates run in one go; shared across seed
# counts). PART=ours and PART=reference run one side each, so the two sides can use the two cores
# at once; a reference run over some of the seeds (SEEDS=2 on the second core) writes its record
# into $JAXRL_OFFLINE_STATE/parity/reference-subset and copies its finished seeds into the
# committed cache, which the run over all seeds then reuses. The reference's commit is read with
# git in REFERENCE_DIR, or given by REFERENCE_COMMIT for an export without .git (checked before
# anything runs; PINNED_EXPORT=1 takes the registry's pinned commit for an export instead). Then
# the parity table is regenerated. queue.sh (CORL), queue_aca.sh, queue_idql.sh and queue_misa.sh
# hold the methods' budgets.
set -u
cd "$(dirname "$0")/../.."
USAGE="usage: $0 REFERENCE REFERENCE_DIR DATASET STEPS EVAL_EVERY CHUNK"
REFERENCE=${1:?$USAGE}; REFERENCE_DIR=${2:?$USAGE}; DATASET=${3:?$USAGE}; STEPS=${4:?$USAGE}
EVAL_EVERY=${5:?$USAGE}; CHUNK=${6:?$USAGE}
# Before hours of ours: the reference side needs a commit (git, or REFERENCE_COMMIT for an export;
# PINNED_EXPORT=1, set by queue_aca.sh, queue_idql.sh and queue_misa.sh: an export of the pinned
# commit).
if [ ! -e "$REFERENCE_DIR/.git" ] && [ -z "${REFERENCE_COMMIT:-}" ]; then
  if [ "${PINNED_EXPORT:-0}" = 1 ]; then
    REFERENCE_COMMIT=$(python -c "from benchmarks.parity import references; print(references.get_reference('$REFERENCE').commit)") || exit 1
  else
    echo "$REFERENCE_DIR is not a git checkout: set REFERENCE_COMMIT=<sha> (the pinned commit of an export)"
    exit 2
  fi
fi
PART=${PART:-all}; NUM_SEEDS=${NUM_SEEDS:-3}
ALL_SEEDS=$(python -c "print(','.join(map(str, range($NUM_SEEDS))))")
SEEDS=${SEEDS:-$ALL_SEEDS}
# A subset of the seeds (a second core's share) records into a scratch workdir and only its
# finished seeds are copied into the committed cache: no record with fewer seeds replaces one.
REFERENCE_WORKDIR=benchmarks/results/parity
[ "$SEEDS" = "$ALL_SEEDS" ] || REFERENCE_WORKDIR=${JAXRL_OFFLINE_STATE:-$HOME/.jaxrl_offline}/parity/reference-subset
ALGO=$(python -c "from benchmarks.parity import references; print(references.get_reference('$REFERENCE').algorithm)") || exit 1
BUDGET="--steps=$STEPS --eval_every=$EVAL_EVERY --eval_episodes=10"
if [ "$PART" != reference ]; then
  OURS_ARGS=$(python -m benchmarks.parity.references "$REFERENCE" "$DATASET") || exit 1
  RECORD="runs/${ALGO}__$(echo "$DATASET" | tr '/' '_').json"
fi
if [ "$PART" != reference ] && [ -n "${OURS_SEEDS:-}" ]; then
  # Ours a seed at a time (a side longer than a session): each seed alone (--seed=k
  # --num_seeds=1, state under ours-seed<k>), its record kept in the committed ours_seeds/, and
  # the NUM_SEEDS-seed record merged from them once every seed is there.
  for seed in $(echo "$OURS_SEEDS" | tr ',' ' '); do
    STATE=${JAXRL_OFFLINE_STATE:-$HOME/.jaxrl_offline}/parity/ours-seed$seed
    python -m experiments.run --algos=$ALGO --datasets="$DATASET" --num_seeds=1 --seed=$seed \
        $BUDGET --chunk=$CHUNK --checkpoint_every=1 ${OURS_ARGS_EXTRA:-} --workdir="$STATE" \
        --progress=false $OURS_ARGS || exit 1
    python -c "from benchmarks.parity import ours_seeds; print(ours_seeds.keep_part('$STATE/$RECORD'))" || exit 1
  done
  python -m benchmarks.parity.ours_seeds --algorithm=$ALGO --dataset="$DATASET" \
      --num_seeds=$NUM_SEEDS || echo "not merged yet: run the other seeds with OURS_SEEDS"
elif [ "$PART" != reference ]; then
  STATE=${JAXRL_OFFLINE_STATE:-$HOME/.jaxrl_offline}/parity/ours-$NUM_SEEDS
  python -m experiments.run --algos=$ALGO --datasets="$DATASET" --num_seeds=$NUM_SEEDS $BUDGET \
      --chunk=$CHUNK --checkpoint_every=1 ${OURS_ARGS_EXTRA:-} --workdir="$STATE" --progress=false \
      $OURS_ARGS || exit 1
  cp "$STATE/$RECORD" benchmarks/results/parity/runs/
fi
if [ "$PART" != ours ]; then
  PYTHONPATH=$PWD ${HARNESS_PYTHON:-python} -m benchmarks.parity.run_reference \
      --reference="$REFERENCE" --reference_dir="$REFERENCE_DIR" \
      ${REFERENCE_COMMIT:+--reference_commit=$REFERENCE_COMMIT} \
      ${REFERENCE_PYTHON:+--reference_python=$REFERENCE_PYTHON} \
      ${REFERENCE_ARGS:+"--reference_args=$REFERENCE_ARGS"} --dataset="$DATASET" \
      --seeds="$SEEDS" $BUDGET --workdir="$REFERENCE_WORKDIR" || exit 1
  if [ "$REFERENCE_WORKDIR" != benchmarks/results/parity ]; then
    cp "$REFERENCE_WORKDIR"/reference_seeds/*.json benchmarks/results/parity/reference_seeds/
  fi
fi
python -m benchmarks.parity.tables
echo "PARITY QUEUE DONE ($PART): $REFERENCE on $DATASET, seeds $SEEDS"
