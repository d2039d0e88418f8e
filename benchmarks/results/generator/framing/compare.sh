#!/usr/bin/env bash
# Issue #17, acceptance 2: the first framing's teacher beside the window-mean one (../eval_seeds/), same evaluation
# seeds, 50 synthetic windows per class. Run from the repository root after training runs/teacher-6k (README.md here):
#   benchmarks/results/generator/framing/compare.sh 0 1 2 3 4
# Summaries: python -m benchmarks.generator_seeds benchmarks/results/generator/framing/<folder>
set -euo pipefail
source .venv/bin/activate
F=benchmarks/results/generator/framing
mkdir -p runs
git show 0f3d738:train/weights/diffusion_teacher.pt > runs/first_teacher.pt  # the first shipped teacher
for s in "$@"; do
  python -m imuedge.train.diffusion.evaluate --teacher runs/first_teacher.pt --ddim 50 --per-class 50 --seed $s \
    --out $F/first_teacher_ddim50/seed$s
  python -m imuedge.train.diffusion.evaluate --teacher runs/teacher-6k/teacher.pt --ddim 50,10 --per-class 50 \
    --seed $s --out $F/first_framing_6000_steps/seed$s
done
