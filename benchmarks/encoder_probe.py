"""10-shot linear-probe macro-F1 of encoder checkpoints, by the main job's protocol.

    python -m benchmarks.encoder_probe runs/my-encoder/encoder.pt [more.pt ...] [--shots 10] [--splits val test]

HAPT's six basic activities, the default subject-disjoint split (seed 0), windows of 128 at
hop 64; each encoder frozen, its spectrogram's per-axis statistics fitted on the train split,
a linear probe on n labelled windows per class for seeds 0-4, macro-F1 on the test subjects
(``--splits val``: on the validation subjects, to choose between pretraining recipes without
looking at the test subjects; ``--splits val test``: both).
The random-init 2D reference (same backbone, a new init per seed) comes first unless
``--no-random``. Prints one JSON line per model and split; used for benchmarks/results/pretrain/.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("encoders", nargs="*", help="encoder checkpoints (imuedge pretrain's encoder.pt)")
    ap.add_argument("--shots", type=int, nargs="+", default=[10], help="labelled windows per class")
    ap.add_argument("--seeds", type=int, default=5, help="few-shot draws (seeds 0..N-1)")
    ap.add_argument("--splits", nargs="+", choices=["val", "test"], default=["test"],
                    help="subjects to score on: val (for choosing a recipe), test (to report), or both")
    ap.add_argument("--backbone", default="edge", help="backbone of the random-init reference")
    ap.add_argument("--no-random", action="store_true", help="skip the random-init reference")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = ap.parse_args(argv)
    from imuedge.data import load_hapt_windows
    from imuedge.train import fewshot
    from imuedge.train.encoder import IMUEncoder
    from imuedge.train.models import load_encoder

    if a.threads:
        torch.set_num_threads(a.threads)
    split = load_hapt_windows(window=128, hop=64, seed=0)
    train, scored = split["train"], [split[s] for s in a.splits]
    k = len(train.label_names)

    def features(encoder):
        encoder.fit_normalization(train.x)
        encoder.eval()
        return [fewshot.embed(encoder, ws.x, 256) for ws in (train, *scored)]

    def report(name, feats_for_seed):
        t0 = time.time()
        rows = [{"model": name, "split": s, "shots": {}} for s in a.splits]
        for seed in range(a.seeds):
            tr, *others = feats_for_seed(seed)
            for row, ws, feats in zip(rows, scored, others):
                for n in a.shots:
                    f1 = fewshot.evaluate_probe(tr, train.y, feats, ws.y, n, seed, k).macro_f1
                    row["shots"].setdefault(str(n), []).append(round(f1, 4))
        for row in rows:
            row["mean"] = {n: round(float(np.mean(v)), 4) for n, v in row["shots"].items()}
            row["seconds"] = round(time.time() - t0, 1)
            print(json.dumps(row), flush=True)

    def random_init(seed):
        torch.manual_seed(1000 + seed)  # as the main job's random-init 2D row
        return features(IMUEncoder(channels=train.channels, backbone=a.backbone))

    if not a.no_random:
        report("random-init 2D", random_init)
    for path in a.encoders:
        feats = features(load_encoder(path))
        report(path, lambda seed, f=feats: f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
