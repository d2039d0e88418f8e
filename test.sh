#!/usr/bin/env bash
# README command 2: the test suite (what CI runs). Sets up .venv and the Debian
# packages the firmware tests need by itself; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
APT=1 source scripts/bootstrap.sh
exec python -m pytest "$@"
