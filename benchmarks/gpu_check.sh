#!/usr/bin/env bash
# The prepared GPU check: one command for a lent accelerator (H100/H200), never needed by CI.
#
# Prepare on this machine (once per session; the wheels are ignored by git and travel with `carry`):
#   bash benchmarks/gpu_check.sh --download      # wheels the GPU image lacks -> .whl/
# Run on the device machine (device tool, carry=[".whl"], timeout_s=540):
#   bash benchmarks/gpu_check.sh
#
# The GPU image has jax (CUDA), flax, optax, chex, orbax, absl, tqdm, matplotlib and h5py, but not
# distrax, minari, gymnasium, mujoco or ml_collections: those come from .whl/ (Python 3.12,
# manylinux x86_64). The check, in order of value per minute (each step is time-boxed so a slow
# one cannot starve the rest, and every output lands in $OUT):
#   1. the device and versions as JAX sees them;
#   2. the sharding / seed-equivalence tests on the GPU (vmap seed strategy);
#   3. the speed benchmark's gpu preset (TD3+BC and IQL, 256 x 256, 1-64 seeds) -> $OUT/*.json,
#      to commit as benchmarks/results/speed/<device>.json and render with --render.
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

OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MUJOCO_GL=egl
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PWD"
else
  export PYTHONPATH="$PWD"
fi

step() {  # step <seconds> <name> <command...>: time-boxed, logged to $OUT/<name>.log
  local limit=$1 name=$2; shift 2
  echo "== $name (limit ${limit}s)"
  local started=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local status=$?
  echo "   exit $status after $((SECONDS - started))s"; tail -n 15 "$OUT/$name.log"
}

step 60 devices python3 -c "import jax, flax, optax; print(jax.devices(), jax.__version__, flax.__version__, optax.__version__)"
step 180 sharding_tests python3 -m pytest -q -x -p no:cacheprovider tests/test_sharding.py tests/test_training.py
step 300 speed python3 -m benchmarks.speed --preset=gpu --out_dir="$OUT"
ls -la "$OUT"
