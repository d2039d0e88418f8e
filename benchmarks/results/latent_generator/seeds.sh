#!/usr/bin/env bash
# The latent (TimeLDM-style) generator and its progressively distilled 4-, 2- and 1-step students,
# trained and evaluated once per seed (issue #22 acceptance 1: 5 seeds where randomness matters).
# Seed s: both stages and the distillation with --seed s, then the evaluation report with --seed s
# (which real training windows score TRTR and the discriminator, the synthetic noise, the classifiers'
# initialisation). Run from the repository root: benchmarks/results/latent_generator/seeds.sh 0 1 2 3 4
# Checkpoints go to runs/ldm-seeds/ (not committed); each seed's report to
# benchmarks/results/latent_generator/seeds/seed<s>/.
set -euo pipefail
source .venv/bin/activate
for s in "$@"; do
  w=runs/ldm-seeds/seed$s
  imuedge diffusion vae --out $w --steps 1500 --batch-size 64 --threads 1 --seed $s
  imuedge diffusion latent --vae $w/vae.pt --out $w --steps 2000 --batch-size 64 --threads 1 --seed $s
  imuedge diffusion distill --teacher $w/latent.pt --out $w/students --threads 1 --seed $s
  python -m imuedge.train.diffusion.evaluate --latent $w/latent.pt --ddim '' \
    --students $w/students/student_4.pt,$w/students/student_2.pt,$w/students/student_1.pt \
    --out benchmarks/results/latent_generator/seeds/seed$s --per-class 50 --seed $s
done
