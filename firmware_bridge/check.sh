#!/usr/bin/env bash
# One command for the firmware bridge: regenerate-check the shared vectors, build and
# run the host C tests (gcc -Werror, ASan/UBSan), build the Cortex-M3 and AVR targets
# (warnings as errors, size report), run the AVR build in simavr and the Cortex-M3
# build in QEMU end to end against the Python decoder.
#   firmware_bridge/check.sh            (from anywhere; PYTHON=... to pick the interpreter)
# Toolchain: apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc-avr avr-libc simavr
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PYTHON="${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3)}"
FW="$HERE/firmware"
step() {
  local name="$1"; shift
  local t0=$(date +%s.%N)
  echo "== $name"
  "$@"
  awk -v n="$name" -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "   %s: %.2f s\n", n, b - a }'
}
for tool in make gcc g++ arm-none-eabi-gcc qemu-system-arm avr-gcc simavr; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (see the toolchain line at the top of $0)"; exit 2; }
done
T0=$(date +%s.%N)
step "vectors up to date" "$PYTHON" -m imuedge.emulation.make_vectors --check
step "host C unit tests" make -s -C "$FW" test PYTHON="$PYTHON"
step "Cortex-M3 build (mps2-an385)" make -s -C "$FW" arm PYTHON="$PYTHON"
step "AVR build (ATmega328P)" make -s -C "$FW" avr PYTHON="$PYTHON"
step "Arduino sketch vs core API (g++ syntax, stub headers)" make -s -C "$FW" arduino-syntax
step "AVR in simavr" "$PYTHON" -m imuedge.emulation.avr_sim
step "QEMU end-to-end" "$PYTHON" -m imuedge.emulation.qemu_e2e
awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "check.sh: all passed in %.1f s\n", b - a }'
