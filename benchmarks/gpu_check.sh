#!/usr/bin/env bash
# The prepared GPU check: one command for a lent accelerator (H100/H200), under 9 minutes, never
# needed by CI (CI runs its reduced --smoke mode on CPU: tests/test_gpu_check.py).
#
# Prepare on this machine (once per session; the wheels are ignored by git and travel with `carry`):
#   bash benchmarks/gpu_check.sh --download      # wheels the GPU image lacks -> .whl/
# Run on the device machine (device tool, carry=[".whl"], timeout_s=570):
#   bash benchmarks/gpu_check.sh                 # everything lands in $OUT
#   bash benchmarks/gpu_check.sh --smoke         # the same steps at tiny sizes (CPU, a minute or two)
#
# The GPU image has jax (CUDA), flax, optax, chex, orbax, absl, tqdm, matplotlib and h5py, but not
# distrax, minari, gymnasium, mujoco or ml_collections: those come from .whl/ (Python 3.12,
# manylinux x86_64). The steps, in order of value per minute, each time-boxed so a slow one cannot
# starve the rest (BUDGET_S, 530 s, bounds the whole script):
#   0. in the background from the start: generate jaxrl_offline/hopper/medium-v0 (1M transitions;
#      CPU only, so it overlaps the GPU steps);
#   1. the devices and versions as JAX sees them;
#   2. the speed benchmark's gpu preset for TD3+BC and IQL (256 x 256) with 1, 10 and 100 vmapped
#      seeds: updates/s, compile and evaluation times (2 episodes per seed) ->
#      $OUT/results/speed/<device>-<algo>.json;
#   3. what the vmapped chunk's shared update counter saves (benchmarks/shared_step.py: TD3+BC,
#      ReBRAC, TD3-RKL and IDQL, 10 seeds, per-seed against shared counter) ->
#      $OUT/results/shared_step/;
#   4. a 10-config x 10-seed grid of TD3+BC alpha (--grid.alpha via experiments.run), 10k updates
#      and one final evaluation episode per seed:
#      its records' timing -> $OUT/grid/ (skipped with a line when the runner has no --grid);
#   5. the sharding / seed-equivalence tests on the GPU (vmap seed strategy);
#   6. the paper protocol with the time left: 10 seeds x 1M updates of TD3+BC, then IQL, on the
#      hopper medium data (sweep hopper_medium_protocol) -> $OUT/results/hopper_medium_protocol/;
#      a run cut by the budget is stopped with SIGINT, so it checkpoints and leaves a partial
#      record (rerunning the same command resumes it), and only finished runs have records.
# $OUT/results/ mirrors benchmarks/results/ (see $OUT/COMMIT.md): copy its speed/*.json and
# <sweep>/runs/ there, then `python -m benchmarks.speed --render`, `python -m experiments.tables
# --workdir=benchmarks/results/hopper_medium_protocol` and `python -m benchmarks.readme`.
set -uo pipefail
WHEELS=(distrax==0.1.9 dm-tree==0.1.10 tfp-nightly==0.26.0.dev20261027 minari==0.5.4
        gymnasium==1.4.0 mujoco==4.0.1 mujoco-core==4.0.1 ml_collections==1.1.0
        farama-notifications==0.0.6 glfw==2.11.0 pyopengl==3.1.10 gast==0.7.0)

if [[ "${1:-}" == "--download" ]]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  for wheel in "${WHEELS[@]}"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
      -d .whl "$wheel" || echo "could not download $wheel"
  done
  du -sh .whl
  exit 0
fi
SMOKE=0
if [[ "${1:-}" == "--smoke" ]]; then
  SMOKE=1
elif [[ -n "${1:-}" ]]; then
  echo "usage: bash benchmarks/gpu_check.sh [--download | --smoke]" >&2
  exit 2
fi

OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT/results/speed"
export PYTHONUNBUFFERED=1 MUJOCO_GL=egl
export MINARI_DATASETS_PATH="${MINARI_DATASETS_PATH:-/tmp/gpu_check_datasets}"  # Not in $OUT.
if (( ! SMOKE )) && compgen -G ".whl/*.whl" > /dev/null; then  # Python 3.12 wheels: GPU image.
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PWD"
else
  export PYTHONPATH="$PWD"
fi

if (( SMOKE )); then  # Every step, at sizes that take seconds on a CPU; loose time boxes, as a
  # loaded CI machine can be ten times slower (the test's own timeout bounds the script).
  BUDGET_S=3000 SPEED_LIMIT=1200 SHARED_LIMIT=600 GRID_LIMIT=600 DATA=jaxrl_offline/hopper/medium-2k-v0
  SPEED=(--seeds=1 --hidden_dims=16,16 --chunk=5 --repeats=1 --eval_episodes=1
         --eval_max_steps=5 --dataset=jaxrl_offline/halfcheetah/medium-2k-v0)
  GRID=(--grid.alpha=1,2 --num_seeds=2 --steps=20 --chunk=10 --eval_every=0 --eval_episodes=1
        --max_episode_steps=5 --config.actor_hidden_dims='(16, 16)'
        --config.critic_hidden_dims='(16, 16)' --datasets=jaxrl_offline/halfcheetah/medium-2k-v0)
  SHARED_STEP=(--algos=td3_bc --seeds=2 --hidden_dims=16,16 --chunk=5 --repeats=1
               --dataset=jaxrl_offline/halfcheetah/medium-2k-v0)
  PROTOCOL=(--datasets="$DATA" --num_seeds=2 --steps=10 --chunk=10 --eval_every=10
            --eval_episodes=1 --max_episode_steps=5 --config.actor_hidden_dims='(16, 16)'
            --config.critic_hidden_dims='(16, 16)')
else
  BUDGET_S=530 SPEED_LIMIT=150 SHARED_LIMIT=90 GRID_LIMIT=60 DATA=jaxrl_offline/hopper/medium-v0
  # 2 evaluation episodes per seed: 100 seeds x 10 episodes of HalfCheetah would take a minute.
  SPEED=(--seeds=1,10,100 --eval_episodes=2)
  SHARED_STEP=(--seeds=10 --chunk=200)
  GRID=(--grid.alpha=1,1.5,2,2.5,3,3.5,4,5,7.5,10 --num_seeds=10 --steps=10000 --chunk=1000
        --eval_every=0 --eval_episodes=1 --datasets=jaxrl_offline/halfcheetah/medium-50k-v0)
  PROTOCOL=()
fi

step() {  # step <seconds> <name> <command...>: time-boxed, logged to $OUT/<name>.log
  local limit=$1 name=$2; shift 2
  local left=$((BUDGET_S - SECONDS))
  (( limit > left )) && limit=$left
  if (( limit < 10 )); then echo "== $name: skipped, the ${BUDGET_S}s budget is spent"; return 0; fi
  echo "== $name (limit ${limit}s)"
  local started=$SECONDS
  timeout -s INT -k 30 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local status=$?
  echo "   exit $status after $((SECONDS - started))s"; tail -n 15 "$OUT/$name.log"
  # 124: cut by its time box (a protocol run then resumes from its checkpoint); not a failure.
  (( status != 0 && status != 124 )) && FAILED+=("$name (exit $status)")
  return $status
}
FAILED=()

# 0. The protocol's dataset, generated on the CPU cores while the GPU steps run.
python3 -m experiments.make_datasets --envs=hopper --kinds=medium --skip_existing \
  $( (( SMOKE )) && echo --size=2000 ) --num_envs=16 > "$OUT/dataset.log" 2>&1 &
DATASET_PID=$!

step 60 devices python3 -c "
import jax, flax, optax
from benchmarks.speed import device_slug
print(jax.devices(), jax.__version__, flax.__version__, optax.__version__)
open('$OUT/device_slug', 'w').write(device_slug(jax.devices()))"
SLUG=$(cat "$OUT/device_slug" 2>/dev/null || echo unknown-device)

for algo in td3_bc iql; do  # One report per algorithm: a cut second one keeps the first.
  step "$SPEED_LIMIT" "speed_$algo" python3 -m benchmarks.speed --preset=gpu --algos="$algo" \
    "${SPEED[@]}" --name="$SLUG-$algo" --out_dir="$OUT/results/speed"
done

step "$SHARED_LIMIT" shared_step python3 -m benchmarks.shared_step "${SHARED_STEP[@]}" \
  --out_dir="$OUT/results/shared_step"

step "$GRID_LIMIT" grid python3 -m experiments.run --algos=td3_bc "${GRID[@]}" \
  --workdir="$OUT/grid" --progress=false
if (( $? != 0 )) && grep -qiE "grid" "$OUT/grid.log" && \
    grep -qiE "unknown|unrecognized|no such|not a" "$OUT/grid.log"; then
  echo "   grid: SKIPPED: this runner rejects --grid.<field> (the config-grid axis is not in" \
       "this checkout); the grid timings need a runner with --grid."
  unset 'FAILED[-1]'
fi

(( SMOKE )) || step 60 sharding_tests python3 -m pytest -q -x -p no:cacheprovider \
  tests/test_sharding.py

echo "== waiting for the protocol dataset $DATA"
wait "$DATASET_PID"; status=$?
echo "   dataset exit $status after ${SECONDS}s"; tail -n 5 "$OUT/dataset.log"
(( status == 0 )) || FAILED+=("dataset (exit $status)")
for algo in td3_bc iql; do  # As many full runs as the budget leaves time for.
  step "$BUDGET_S" "protocol_$algo" python3 -m experiments.run --sweep=hopper_medium_protocol \
    --algos="$algo" "${PROTOCOL[@]}" --workdir="$OUT/results/hopper_medium_protocol" \
    --progress=false
done

cat > "$OUT/COMMIT.md" <<EOF
# Committing this GPU check ($SLUG, $( (( SMOKE )) && echo "smoke mode, not for committing" || echo full))

    cp $OUT/results/speed/*.json benchmarks/results/speed/
    python -m benchmarks.speed --render
    cp $OUT/results/shared_step/*.{json,md} benchmarks/results/shared_step/
    mkdir -p benchmarks/results/hopper_medium_protocol
    cp -r $OUT/results/hopper_medium_protocol/runs benchmarks/results/hopper_medium_protocol/
    python -m experiments.tables --workdir=benchmarks/results/hopper_medium_protocol
    python -m benchmarks.readme

Unfinished protocol runs have a checkpoint and a partial record under
$OUT/results/hopper_medium_protocol/ (checkpoints/, partial/); they have no record in runs/.
EOF
echo "== done after ${SECONDS}s; files for benchmarks/results/:"
find "$OUT/results" -path '*/checkpoints' -prune -o -name '*.json' -print | sort
if (( ${#FAILED[@]} )); then echo "FAILED steps: ${FAILED[*]}"; exit 1; fi
