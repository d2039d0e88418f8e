#!/usr/bin/env bash
# README command 2: the test suite (what CI runs). Sets up .venv and the Debian
# packages the firmware tests need by itself; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
APT=1 source scripts/bootstrap.sh
# the phone app's npm packages (npm ci, from android_demo/package-lock.json) and its test browser
python -m imuedge.android_demo.install || echo "[test.sh] android_demo install failed: its browser tests will fail"
exec python -m pytest "$@"
