"""Which features of a frozen MAE encoder serve a 10-shot linear probe best: pooling and depth.

    python -m benchmarks.mae_features train/weights/mae_edge.pt [--splits val test] [--threads 1]

The main job's protocol (HAPT, default subject split, windows of 128 at hop 64, per-channel statistics
of the train split, a linear probe on 10 labelled windows per class for seeds 0-4, macro-F1), the
encoder's weights frozen, its tokens pooled several ways:

    mean / max / mean+max / mean+std over the tokens of the final layer norm,
    mean over the tokens of each block (before the final norm), and those concatenated.

One JSON line per variant, with per-seed scores per split. Used to choose ``MAEEncoder``'s ``pool``
on the VALIDATION subjects (benchmarks/results/mae/README.md section 6); the encoder itself
(``pool``) implements the chosen one, so export and `imuedge train --encoder` get the same features.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch


@torch.no_grad()
def layer_tokens(encoder, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """``(N, depth + 1, L, D)``: the tokens after each block, then after the final layer norm."""
    out = []
    for i in range(0, len(x), batch_size):
        t, per_block = encoder.embed(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size]))), []
        for block in encoder.blocks:
            t = block(t)
            per_block.append(t)
        out.append(torch.stack(per_block + [encoder.norm(t)], 1))
    return torch.cat(out).numpy()


def variants(tokens: np.ndarray) -> dict[str, np.ndarray]:
    depth = tokens.shape[1] - 1
    last = tokens[:, depth]
    v = {"mean (final norm)": last.mean(1), "max (final norm)": last.max(1),
         "mean+max (final norm)": np.concatenate([last.mean(1), last.max(1)], 1),
         "mean+std (final norm)": np.concatenate([last.mean(1), last.std(1)], 1)}
    for j in range(depth):
        v[f"mean (block {j})"] = tokens[:, j].mean(1)
    v["mean (every block, concatenated)"] = np.concatenate([tokens[:, j].mean(1) for j in range(depth)], 1)
    return v


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("encoder", help="an MAE encoder checkpoint")
    ap.add_argument("--splits", nargs="+", choices=["val", "test"], default=["val"])
    ap.add_argument("--shots", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    from imuedge.data import load_hapt_windows
    from imuedge.train import fewshot
    from imuedge.train.mae import MAEEncoder
    from imuedge.train.models import load_encoder

    split = load_hapt_windows(window=128, hop=64, seed=0)
    train = split["train"]
    k = len(train.label_names)
    encoder = load_encoder(a.encoder)
    if not isinstance(encoder, MAEEncoder):
        print(f"{a.encoder}: not an MAE encoder", file=sys.stderr)
        return 2
    encoder.fit_normalization(train.x)
    encoder.eval()
    feats = {s: variants(layer_tokens(encoder, split[s].x)) for s in ("train", *a.splits)}
    for name in feats["train"]:
        row = {"model": a.encoder, "features": name, "shots": a.shots}
        for s in a.splits:
            f1 = [fewshot.evaluate_probe(feats["train"][name], train.y, feats[s][name], split[s].y, a.shots, seed,
                                         k).macro_f1 for seed in range(a.seeds)]
            row[s] = {"seeds": [round(f, 4) for f in f1], "mean": round(float(np.mean(f1)), 4)}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
