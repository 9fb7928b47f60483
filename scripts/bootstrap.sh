#!/usr/bin/env bash
# Install everything cnmri needs on a fresh Debian machine: system packages (the Colin27 template in
# mricron-data, Python venv support), then a virtual environment with cnmri and its dependencies.
# Idempotent: re-running skips what is already there. With --test, also what the test suite needs
# (a PostgreSQL server and Chromium, from Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

need_apt=()
[ -f /usr/share/mricron/templates/ch2.nii.gz ] || need_apt+=(mricron-data)
"$PYTHON" -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
command -v make >/dev/null || need_apt+=(make)
if [ "${1:-}" = "--test" ]; then
  # the results-database tests start a real PostgreSQL server on loopback (docs/cohort.md); the viewer's
  # browser tests drive Debian's Chromium (docs/viewer.md)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
  command -v chromium >/dev/null || need_apt+=(chromium)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "bootstrap: installing Debian packages: ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating virtual environment $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
stamp="$VENV/.cnmri-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing cnmri and its dependencies into $VENV" >&2
  "$VENV/bin/pip" install -q -e '.[dev]'
  touch "$stamp"
fi

# The NiiVue bundle of `cnmri serve` is committed (src/cnmri/web/static/vendor); rebuild it from npm only when
# the version pinned in web/package.json differs from the vendored one.
pinned=$(sed -n 's/.*"@niivue\/niivue": "\([^"]*\)".*/\1/p' web/package.json)
if ! grep -q "niivue $pinned " src/cnmri/web/static/vendor/NIIVUE_VERSION 2>/dev/null; then
  bash scripts/vendor_web.sh
fi
