#!/usr/bin/env bash
# Creates one virtualenv per peer under bench/peers/.venvs/<peer>, from requirements-<peer>.txt.
#
#   bash bench/peers/setup.sh                    # all four peers
#   bash bench/peers/setup.sh celery pgqueuer    # only these
#
# Idempotent: a venv whose stamp file (.venvs/<peer>/.complete) holds the checksum of its
# requirements file, and whose imports work, is skipped. A venv left half-built by an
# interrupted run, or built from an older requirements file, is removed and built again.
# Environment: PEERS_PYTHON (interpreter for the venvs, default python3.11 or python3),
#              PEERS_VENVS (where the venvs live, default bench/peers/.venvs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venvs=${PEERS_VENVS:-$here/.venvs}
if [[ -n ${PEERS_PYTHON:-} ]]; then
  py=$PEERS_PYTHON
elif command -v python3.11 >/dev/null 2>&1; then
  py=python3.11
else
  py=python3
fi

all=(pgqueuer procrastinate celery apscheduler)
peers=("$@")
[[ ${#peers[@]} -eq 0 ]] && peers=("${all[@]}")

# What must import in each venv for it to count as complete.
imports_for() {
  case $1 in
    pgqueuer) echo "pgqueuer, asyncpg" ;;
    procrastinate) echo "procrastinate, psycopg, psycopg_pool" ;;
    celery) echo "celery, kombu.transport.redis, redis" ;;
    apscheduler) echo "apscheduler, anyio, sniffio, sqlalchemy, asyncpg, greenlet" ;;
    *) echo "unknown peer: $1 (choose from: ${all[*]})" >&2; return 1 ;;
  esac
}

mkdir -p "$venvs"
start_all=$(date +%s)
for peer in "${peers[@]}"; do
  mods=$(imports_for "$peer")
  req=$here/requirements-$peer.txt
  venv=$venvs/$peer
  stamp=$venv/.complete
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]] \
    && "$venv/bin/python" -c "import $mods" >/dev/null 2>&1; then
    echo "[$peer] up to date ($venv)"
    continue
  fi
  t0=$(date +%s)
  echo "[$peer] building $venv with $("$py" --version 2>&1)"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  # this machine's pip config lists local find-links folders; hide its per-package notices
  "$venv/bin/python" -m pip install --quiet --no-input -r "$req" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  "$venv/bin/python" -c "import $mods"
  "$venv/bin/python" -m pip freeze >"$venv/pip-freeze.txt"
  echo "$want" >"$stamp"
  echo "[$peer] ready in $(($(date +%s) - t0)) s"
done
echo "peer venvs ready under $venvs (total $(($(date +%s) - start_all)) s)"
