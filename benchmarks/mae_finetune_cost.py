"""CPU seconds of the main job's MAE fine-tuning (one seed, all HAPT training labels), per epoch count.

    python -m benchmarks.mae_finetune_cost train/weights/mae_edge.pt --epochs 1 2

One thread; ``cpu_s`` is the process's CPU time, which on a shared machine stays close to what the run
takes alone (``wall_s`` does not). The main job trains one such model per seed (5), so the added
wall time of E epochs over 1 is about ``5 * (cpu_s(E) - cpu_s(1))`` on one core.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("encoder")
    ap.add_argument("--epochs", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    from imuedge.data import load_hapt_windows
    from imuedge.train import fewshot
    from imuedge.train.models import load_encoder
    from imuedge.train.main_job import mae_finetuning

    train = load_hapt_windows(window=128, hop=64, seed=0)["train"]
    encoder = load_encoder(a.encoder)
    encoder.fit_normalization(train.x)
    for epochs in a.epochs:
        cfg = dataclasses.replace(mae_finetuning(), epochs=epochs)
        c0, w0 = time.process_time(), time.time()
        fewshot.finetune(encoder, train.x, train.y, 0, len(train.label_names), cfg)
        print(json.dumps({"model": a.encoder, "finetune": dataclasses.asdict(cfg), "seed": 0, "threads": 1,
                          "cpu_s": round(time.process_time() - c0, 1), "wall_s": round(time.time() - w0, 1)}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
