#!/usr/bin/env bash
# The VQ cascade's 4-, 2- and 1-step students, once per training seed (issue #22 acceptance 1: 5 seeds where
# randomness matters), distilled from the checkpoints of train_seeds.sh (run that first) with --seed s, then the
# evaluation report with --seed s (the VQ cascade at DDIM 10 and 4 beside its students). Run from the repository
# root: benchmarks/results/vq_generator/student_seeds.sh 1 2 3 4
# Seed 0's students are students/ (distilled from runs/vq/vq.pt, whose tensors equal runs/vq-seeds/seed0/vq.pt's).
# Students go to runs/vq-seeds/seed<s>/students/ (not committed); reports to
# benchmarks/results/vq_generator/student_seeds/seed<s>/, summarised (with students/ as seed 0) by
#   python -m benchmarks.generator_seeds benchmarks/results/vq_generator/student_seeds --seed 0=benchmarks/results/vq_generator/students
set -euo pipefail
source .venv/bin/activate
for s in "$@"; do
  w=runs/vq-seeds/seed$s
  imuedge diffusion distill --teacher $w/vq.pt --out $w/students --threads 1 --seed $s
  python -m imuedge.train.diffusion.evaluate --vq $w/vq.pt --ddim '' --per-class 50 --seed $s \
    --students $w/students/student_4.pt,$w/students/student_2.pt,$w/students/student_1.pt \
    --out benchmarks/results/vq_generator/student_seeds/seed$s
done
