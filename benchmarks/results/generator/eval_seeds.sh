#!/usr/bin/env bash
# The shipped STFT generator (one training run: train/weights/diffusion_teacher.pt and its 4-, 2- and 1-step
# students; since 2026-12-08 the window-mean teacher, eval_seeds_first_teacher/ has the first one's) evaluated with
# five evaluation seeds (which real training windows score TRTR and train the
# discriminator, the synthetic noise, the classifiers' initialisation), 50 synthetic windows per class, for the
# side-by-side table of the three generators (issue #22). The spread is the evaluation's only: the teacher
# takes hours to train, so training seeds are not varied (the latent and VQ generators' tables vary both).
# Run from the repository root: benchmarks/results/generator/eval_seeds.sh 0 1 2 3 4
# Summary: python -m benchmarks.generator_seeds benchmarks/results/generator/eval_seeds
set -euo pipefail
source .venv/bin/activate
W=train/weights
for s in "$@"; do
  python -m imuedge.train.diffusion.evaluate --teacher $W/diffusion_teacher.pt --ddim 50,10,4 --per-class 50 --seed $s \
    --students $W/diffusion_student_4.pt,$W/diffusion_student_2.pt,$W/diffusion_student_1.pt \
    --out benchmarks/results/generator/eval_seeds/seed$s
done
