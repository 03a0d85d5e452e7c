#!/usr/bin/env bash
# Issue 14's reference implementations, checked out at the commits the parity records name
# (benchmarks/parity/references.py) and given the environments the queues expect, in one go:
#   benchmarks/parity/setup_references.sh [DIR] [corl idql misa sfbc aca]
# DIR (default /tmp/refs) gets one export per reference (CORL, IDQL, MISA, SfBC, ACA: the files at
# the pinned commit, no .git; the queues then take the commit from references.py with
# PINNED_EXPORT=1 or REFERENCE_COMMIT=<sha>) and the venvs <name>-venv that
# requirements-<name>.txt describe (CORL needs none: it runs in the project's environment with
# the [parity] extra). Outside the repository: no reference code is ever committed.
# SOURCE is where the repositories are cloned from, "{repo}" standing for owner/name, "{owner}"
# and "{name}" for its parts (default https://github.com/{repo}.git; a local bare mirror, e.g.
# SOURCE=/mirrors/{owner}+{name}/repo); a clone already in DIR/.git-<name> is reused. DRY_RUN=1 prints the commands instead of running them.
# Time: the clones take seconds to minutes; the venvs several minutes each (MISA's jaxlib 0.4.13,
# ACA's d3rlpy built from its sdist). Needs python3.10 for MISA (requirements-misa.txt) and
# python3.11 for the others.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-/tmp/refs}; shift || true
NAMES=${*:-corl idql misa sfbc aca}
GITHUB='https://github.com/{repo}.git'
SOURCE=${SOURCE:-$GITHUB}
run() { if [ "${DRY_RUN:-0}" = 1 ]; then echo "+ $*"; else "$@"; fi; }

# name -> "owner/repo commit export-dir [paths to export]" from references.py (the pinned commits).
source_of() {
  python - "$1" <<'EOF'
import sys
from benchmarks.parity import references as r
rows = {"corl": (r.CORL_REPOSITORY, r.CORL_COMMIT, "CORL", "algorithms configs"),
        "idql": (r.IDQL_REPOSITORY, r.IDQL_COMMIT, "IDQL", ""),
        "misa": (r.MISA_REPOSITORY, r.MISA_COMMIT, "MISA", ""),
        "sfbc": (r.SFBC_REPOSITORY, r.SFBC_COMMIT, "SfBC", ""),
        "aca": (r.ACA_REPOSITORY, r.ACA_COMMIT, "ACA", "")}
if sys.argv[1] not in rows:
    sys.exit(f"unknown reference {sys.argv[1]!r}: one of {', '.join(rows)}")
print(" ".join(rows[sys.argv[1]]))
EOF
}

venv() {  # venv <name> <python> [--system-site-packages]
  local name=$1 python=$2; shift 2
  if [ -x "$DIR/$name-venv/bin/python" ]; then echo "$DIR/$name-venv exists: kept"; return; fi
  run "$python" -m venv "$@" "$DIR/$name-venv"
  run "$DIR/$name-venv/bin/pip" install -q -r "benchmarks/parity/requirements-$name.txt"
}

run mkdir -p "$DIR"
for name in $NAMES; do
  row=$(source_of "$name")  # An unknown name stops here (set -e; a here-string would not).
  read -r repo commit export paths <<< "$row"
  url=${SOURCE//\{repo\}/$repo}; url=${url//\{owner\}/${repo%%/*}}; url=${url//\{name\}/${repo#*/}}
  clone="$DIR/.git-$name"
  echo "== $name: $repo @ ${commit:0:7} -> $DIR/$export"
  [ -d "$clone" ] || run git clone --quiet --bare "$url" "$clone"
  run rm -rf "$DIR/$export"
  run mkdir -p "$DIR/$export"
  # Only the paths the harness runs (CORL: a large results file the scripts never read is left out).
  if [ "${DRY_RUN:-0}" = 1 ]; then
    echo "+ git --git-dir=$clone archive $commit $paths | tar -x -C $DIR/$export"
  else
    # shellcheck disable=SC2086
    git --git-dir="$clone" archive "$commit" $paths | tar -x -C "$DIR/$export"
  fi
  case $name in
    idql) venv idql python3.11 ;;
    misa) venv misa python3.10 ;;
    sfbc) venv sfbc python3.11 --system-site-packages ;;
    aca) venv aca python3.11 --system-site-packages
         # d3rlpy 1.1.0 has no wheel for Python 3.11: built from its sdist (requirements-aca.txt).
         run "$DIR/aca-venv/bin/pip" install -q --no-build-isolation --no-deps d3rlpy==1.1.0 ;;
  esac
done
echo "references ready under $DIR (commits: benchmarks/parity/references.py)"
