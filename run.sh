#!/usr/bin/env bash
# README command 1: the main job, end to end, on the built-in default.
# Sets up .venv by itself on a fresh machine; extra arguments go to `imuedge run`.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
exec imuedge run "$@"
