#!/usr/bin/env bash
# The VQ (TimeVQVDM-style) generator's smoke run on HAPT (issue #22): one command per stage, each under
# nice -n 10 with one torch thread, timed; console output (progress bars as lines) to stdout.
#   benchmarks/results/vq_generator/smoke.sh train     # stages 1 and 2 (runs/vq/vqvae.pt, runs/vq/vq.pt)
#   benchmarks/results/vq_generator/smoke.sh export    # fp32 .onnx / .tflite / .pte bundles with parity
#   benchmarks/results/vq_generator/smoke.sh evaluate  # the evaluation report (--vq)
#   benchmarks/results/vq_generator/smoke.sh compare   # every generator in one report (needs runs/ldm/latent.pt)
#   benchmarks/results/vq_generator/smoke.sh seeds     # the evaluation again with seeds 1-4 (seed 0 is `evaluate`)
set -u
cd "$(dirname "$0")/../../.."
OUT=${OUT:-runs/vq}
RES=benchmarks/results/vq_generator
stage() {
  local name=$1; shift
  echo "== $name: $*"
  local t0; t0=$(date +%s)
  "$@"
  local rc=$?
  echo "== $name rc=$rc seconds=$(( $(date +%s) - t0 )) load=$(cut -d' ' -f1-3 /proc/loadavg)"
  return $rc
}
case "${1:-}" in
  train)
    stage vqvae nice -n 10 imuedge diffusion vqvae --out "$OUT" --steps 1000 --batch-size 64 --threads 1 &&
    stage vqprior nice -n 10 imuedge diffusion vqprior --vqvae "$OUT/vqvae.pt" --out "$OUT" --steps 1500 \
      --batch-size 64 --threads 1 ;;
  export)
    stage export nice -n 10 imuedge diffusion export --generator "$OUT/vq.pt" --steps 10 --guidance 1.5 \
      --out "$OUT-bundles" && cp "$OUT-bundles/export_summary.json" "$RES/export_summary.json" ;;
  evaluate)
    stage evaluate nice -n 10 python -m imuedge.train.diffusion.evaluate --vq "$OUT/vq.pt" --out "$RES/report" \
      --per-class 50 ;;
  compare)
    stage compare nice -n 10 python -m imuedge.train.diffusion.evaluate --teacher train/weights/diffusion_teacher.pt \
      --students train/weights/diffusion_student_4.pt,train/weights/diffusion_student_1.pt \
      --latent runs/ldm/latent.pt --vq "$OUT/vq.pt" --ddim 10,4 --per-class 50 --out "$RES/comparison" ;;
  seeds)
    for s in 1 2 3 4; do
      stage "evaluate seed $s" nice -n 10 python -m imuedge.train.diffusion.evaluate --vq "$OUT/vq.pt" \
        --out "$RES/seeds/seed$s" --per-class 50 --seed "$s"
    done ;;
  *) echo "usage: $0 train|export|evaluate|compare|seeds" >&2; exit 2 ;;
esac
