#!/usr/bin/env bash
# The window-mean framing trained twice as long (runs/teacher-wm-6k, README.md here), on the evaluation seeds of
# ../eval_seeds/. Run from the repository root: benchmarks/results/generator/framing/window_mean_6000.sh 0 1 2 3 4
set -euo pipefail
source .venv/bin/activate
F=benchmarks/results/generator/framing
for s in "$@"; do
  python -m imuedge.train.diffusion.evaluate --teacher runs/teacher-wm-6k/teacher.pt --ddim 50,10 --per-class 50 \
    --seed $s --out $F/window_mean_6000_steps/seed$s
done
