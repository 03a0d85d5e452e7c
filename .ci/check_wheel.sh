#!/usr/bin/env bash
# The built wheel works without the source tree.
#
# Builds the sdist and, from it, the wheel with the standard frontend (`python -m build`), installs
# the wheel into a fresh virtual environment (no access to the checkout or to other installs of
# the project) and, from an empty folder outside the repository, runs: the README's component
# example, a tiny run of the default sweep (BC only, on a 1k medium-replay dataset that the runner
# generates from the shipped behavior-policy snapshots) and a table beside a published one.
# It is part of CI, after the test suite, so it is kept to about a minute and a half of CPU.
# Everything it writes goes to a temporary folder.
#
# Downloads come from pip's cache and from any wheel folders pip is configured with
# (`PIP_FIND_LINKS`), so a warm run only unpacks wheels. Usage: .ci/check_wheel.sh [python]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
step() {  # Wall time, and CPU time (user, system) of the commands so far.
    times > "$tmp/times"  # Not in $(...): a subshell would report its own, zero, times.
    echo "--- [check_wheel $((SECONDS - start)) s wall, cpu $(tail -n 1 "$tmp/times")] $*"
}

step "build sdist and wheel"
"$python" -m pip install --quiet build
"$python" -m build --outdir "$tmp/dist" "$repo" > "$tmp/build.log" \
    || { cat "$tmp/build.log"; exit 1; }
ls "$tmp/dist"
wheel=("$tmp"/dist/*.whl)
"$python" - "${wheel[0]}" <<'EOF'
import collections, pathlib, sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
kinds = collections.Counter(f"{name.split('/')[0]}/*{pathlib.PurePosixPath(name).suffix}"
                            for name in names)
print("wheel:", ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())))
assert not [name for name in names if name.startswith(("benchmarks/", "tests/", "docs/"))]
EOF

step "install the wheel into a fresh virtual environment"
"$python" -m venv "$tmp/venv"
venv_python="$tmp/venv/bin/python"
"$venv_python" -m pip install --quiet --no-compile "${wheel[0]}"  # No .pyc of every dependency.

# From here on nothing may see the checkout: an empty working folder, no PYTHONPATH, datasets
# in a temporary Minari store.
mkdir "$tmp/work"
cd "$tmp/work"
unset PYTHONPATH
export MINARI_DATASETS_PATH="$tmp/minari"
export JAXRL_OFFLINE_STATE="$tmp/state"

step "the packages come from the wheel"
"$venv_python" - "$tmp/venv" <<'EOF'
import pathlib, sys
import experiments, jaxrl_offline
venv = pathlib.Path(sys.argv[1]).resolve()
for module in (jaxrl_offline, experiments):
    path = pathlib.Path(module.__file__).resolve()
    assert venv in path.parents, f"{module.__name__} imported from {path}, not the wheel"
    print(module.__name__, "from", path)
EOF

step "the README's component example"
"$venv_python" - "$repo/README.md" > readme_example.py <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
block = re.search(r"<!-- readme-example:begin -->\s*```python\n(.*?)```\s*"
                  r"<!-- readme-example:end -->", text, re.S)
assert block, "README lost its marked example"
print(block.group(1))
EOF
"$venv_python" readme_example.py

step "a tiny run of the default sweep (sweep file and behavior policies are package data)"
"$venv_python" -m experiments.run --sweep=default --algos=bc \
    --datasets=jaxrl_offline/hopper/medium-replay-1k-v0 --num_seeds=2 --steps=100 --chunk=50 \
    --eval_every=0 --eval_episodes=1 --max_episode_steps=20 --checkpoint_every=0 --workdir=runs

step "a table beside a published one (published tables are package data)"
"$venv_python" -m experiments.tables --workdir=runs --reference=iql_paper_table1 | tee table.md
grep -q "bc published" table.md  # The paper's BC column beside ours.

step "the records came from the wheel"
"$venv_python" - <<'EOF'
import json, pathlib
records = sorted(pathlib.Path("runs/runs").glob("*.json"))
assert len(records) == 1, records
for path in records:
    record = json.loads(path.read_text())
    assert record["git_commit"] is None, (path, record["git_commit"])  # No checkout here.
    print(path.name, record["versions"]["jaxrl_offline"], record["final"]["last"]["mean"])
EOF
step "ok"
