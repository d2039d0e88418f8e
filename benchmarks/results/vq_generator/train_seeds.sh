#!/usr/bin/env bash
# The VQ (TimeVQVDM-style) generator trained and evaluated once per training seed (issue #22 acceptance 1:
# 5 seeds where randomness matters). Seed s: both stages with --seed s, then the evaluation report with
# --seed s (DDIM 10 and 4 per chain). Run from the repository root:
#   benchmarks/results/vq_generator/train_seeds.sh 0 1 2 3 4
# Checkpoints go to runs/vq-seeds/ (not committed); reports to benchmarks/results/vq_generator/train_seeds/seed<s>/,
# summarised by: python -m benchmarks.generator_seeds benchmarks/results/vq_generator/train_seeds
set -euo pipefail
source .venv/bin/activate
for s in "$@"; do
  w=runs/vq-seeds/seed$s
  imuedge diffusion vqvae --out $w --steps 1000 --batch-size 64 --threads 1 --seed $s
  imuedge diffusion vqprior --vqvae $w/vqvae.pt --out $w --steps 1500 --batch-size 64 --threads 1 --seed $s
  python -m imuedge.train.diffusion.evaluate --vq $w/vq.pt --ddim '' --per-class 50 --seed $s \
    --out benchmarks/results/vq_generator/train_seeds/seed$s
done
