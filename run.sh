#!/usr/bin/env bash
# README command 1: the main job, end to end, on the built-in default.
# Sets up .venv by itself on a fresh machine. Extra arguments go to `imuedge run`;
# IMUEDGE_OUT chooses the report folder (default reports/default).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
OUT="${IMUEDGE_OUT:-reports/default}"
export PYTHONUNBUFFERED=1

echo "== 1/5 train: HAPT -> IMG2IMU pretraining -> few-shot report"
imuedge run --out "$OUT" "$@"

echo "== 2/5 export: the default classifier to .pte / .tflite / .onnx, fp32 and int8"
# A format whose parity check fails is refused (exit 1) while the others are kept.
imuedge export "$OUT/classifier.pt" --format all --precision all --calibration hapt --out "$OUT/bundles" \
  || echo "!! some bundles were refused; see $OUT/bundles/export_summary.json"

echo "== 3/5 benchmark: latency, size, memory and accuracy of every bundle vs PyTorch eager"
python -m benchmarks.export_bench "$OUT/classifier.pt" "$OUT/bundles" --out "$OUT/benchmark"
cat "$OUT/benchmark/export_bench.md"

echo "== 4/5 stream: the HAPT test subjects over a real pty serial link into the int8 .pte bundle"
imuedge demo-stream --model "$OUT/bundles/pte-int8" --out "$OUT/stream"

echo "== 5/5 generator: the shipped 1-step students (latent: the one to pick; STFT) -> .onnx / .tflite / .pte (fp32 parity) -> CSV -> report"
# The shipped generators and students (train/weights/latent_*.pt, diffusion_*.pt); the full reports
# (slow teacher chains, five seeds) are in benchmarks/results/. A format whose parity fails is refused (exit 1).
GW=train/weights
for pair in latent:latent_student_1 stft:diffusion_student_1; do
  g=${pair%%:*} ckpt="$GW/${pair#*:}.pt"
  imuedge diffusion export --student "$ckpt" --out "$OUT/generator/bundles_$g" \
    || echo "!! some generator bundles were refused; see $OUT/generator/bundles_$g/export_summary.json"
  imuedge generate "$OUT/generator/bundles_$g/onnx-fp32" --class all --n 20 --out "$OUT/generator/synthetic_$g"
done
python -m imuedge.train.diffusion.evaluate --teacher "$GW/diffusion_teacher.pt" --ddim 4 --per-class 20 \
  --latent "$GW/latent_generator.pt" \
  --students "$GW/latent_student_4.pt,$GW/latent_student_2.pt,$GW/latent_student_1.pt,$GW/diffusion_student_4.pt,$GW/diffusion_student_2.pt,$GW/diffusion_student_1.pt" \
  --synthetic "$OUT/generator/synthetic_latent" --synthetic "$OUT/generator/synthetic_stft" \
  --out "$OUT/generator/report"
cat "$OUT/generator/report/report.md"

echo "done: report $OUT/report.md, bundles $OUT/bundles, benchmark $OUT/benchmark, stream $OUT/stream, generator $OUT/generator"
