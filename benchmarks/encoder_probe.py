"""10-shot linear-probe macro-F1 of encoder checkpoints, by the main job's protocol.

    python -m benchmarks.encoder_probe runs/my-encoder/encoder.pt [more.pt ...] [--shots 10] [--splits val test]

HAPT's six basic activities, the default subject-disjoint split (seed 0), windows of 128 at
hop 64; each encoder frozen, its spectrogram's per-axis statistics fitted on the train split,
a linear probe on n labelled windows per class for seeds 0-4, macro-F1 on the test subjects
(``--splits val``: on the validation subjects, to choose between pretraining recipes without
looking at the test subjects; ``--splits val test``: both).
The random-init 2D reference (same backbone, a new init per seed) comes first unless
``--no-random``. Prints one JSON line per model and split; used for benchmarks/results/pretrain/.

``--cnn1d`` adds the main job's 1D CNN from scratch (10 labelled windows per class, and all labels;
trained once per seed, scored on every split), and ``--finetune`` each encoder fine-tuned end to end on
all training labels as the main job's "fine-tuned" row does (``RunConfig().mae_finetune``; the
``--ft-*`` flags override it, to choose it on the validation subjects). Same seeds as the main job.

``--protocol limu-bert`` scores instead by LIMU-BERT's protocol, for comparison with its
published numbers: every HAPT window of the six activities (all 30 subjects pooled; windows
of 128 at hop 128, so no two windows share a sample), a random 80/10/10 split of the windows
per seed, a linear probe on a random ``--label-fraction`` (default 1%) of the training windows,
accuracy and macro-F1 on the test windows. **Subjects are shared between train and test** in
this protocol, so its numbers are not comparable with the subject-disjoint ones above.
"""
from __future__ import annotations

import argparse
import dataclasses
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
    ap.add_argument("--protocol", choices=["subjects", "limu-bert"], default="subjects",
                    help="subjects: the main job's subject-disjoint few-shot protocol; limu-bert: a random 80/10/10 "
                         "window split with --label-fraction of the training windows labelled")
    ap.add_argument("--label-fraction", type=float, default=0.01,
                    help="limu-bert protocol: the fraction of training windows whose labels the probe sees")
    ap.add_argument("--cnn1d", action="store_true",
                    help="also score the main job's 1D CNN from scratch (10 shots and all labels)")
    ap.add_argument("--finetune", action="store_true",
                    help="also score each encoder fine-tuned end to end on all training labels (as the main job)")
    ap.add_argument("--ft-epochs", type=int, help="fine-tuning epochs (default: the main job's)")
    ap.add_argument("--ft-lr", type=float, help="fine-tuning peak learning rate (default: the main job's)")
    ap.add_argument("--ft-layer-decay", type=float, help="fine-tuning layer-wise lr decay (default: the main job's)")
    ap.add_argument("--ft-warmup", type=int, help="fine-tuning warm-up steps (default: the main job's)")
    ap.add_argument("--no-probe", action="store_true", help="skip the linear probes (with --cnn1d / --finetune)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.protocol == "limu-bert":
        return limu_bert(a)
    from imuedge.data import load_hapt_windows
    from imuedge.train import fewshot
    from imuedge.train.encoder import IMUEncoder
    from imuedge.train.models import load_encoder

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

    def trained(name, train_for_seed, extra):
        """One JSON line per split: macro-F1 of a model trained end to end for each seed."""
        t0 = time.time()
        rows = [{"model": name, "split": s, **extra, "full": []} for s in a.splits]
        for seed in range(a.seeds):
            model = train_for_seed(seed)
            for row, ws in zip(rows, scored):
                row["full"].append(round(fewshot.score(ws.y, fewshot.predict(model, ws.x), k)[0], 4))
        for row in rows:
            row["mean"] = round(float(np.mean(row["full"])), 4)
            row["seconds"] = round(time.time() - t0, 1)
            print(json.dumps(row), flush=True)

    if not a.no_random and not a.no_probe:
        report("random-init 2D", random_init)
    if a.cnn1d:
        from imuedge.train.main_job import RunConfig, cnn1d_config

        cfg = cnn1d_config(RunConfig())
        for n in (10, None):
            trained("1D CNN", lambda seed, n=n: fewshot.train_cnn1d(train.x, train.y, n, seed, k, cfg),
                    {"shots": "all" if n is None else n, "epochs": cfg.epochs})
    ft = finetune_config(a)
    for path in a.encoders:
        encoder = load_encoder(path)
        if not a.no_probe:
            feats = features(encoder)
            report(path, lambda seed, f=feats: f)
        if a.finetune:
            encoder.fit_normalization(train.x)  # as the main job: the train split's statistics
            trained(path, lambda seed: fewshot.finetune(encoder, train.x, train.y, seed, k, ft),
                    {"shots": "all", "finetune": dataclasses.asdict(ft)})
    return 0


def finetune_config(a):
    """The main job's MAE fine-tuning settings, with the --ft-* overrides."""
    from imuedge.train.main_job import mae_finetuning

    cfg = mae_finetuning()
    for flag, name in (("ft_epochs", "epochs"), ("ft_lr", "lr"), ("ft_layer_decay", "layer_decay"),
                       ("ft_warmup", "warmup_steps")):
        if getattr(a, flag) is not None:
            cfg = dataclasses.replace(cfg, **{name: getattr(a, flag)})
    return cfg


def window_split(n: int, label_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """LIMU-BERT's split of ``n`` windows: (train, labelled subset of train, validation, test) indices,
    80/10/10 at random, the labelled ones a random ``label_fraction`` of train (at least one)."""
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_val = int(round(0.8 * n)), int(round(0.1 * n))
    train, val, test = order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]
    labelled = np.random.default_rng(10_000 + seed).choice(train, max(1, int(round(label_fraction * len(train)))),
                                                           replace=False)
    return train, labelled, val, test


def limu_bert(a) -> int:
    from imuedge.data import load_hapt_windows
    from imuedge.train import fewshot
    from imuedge.train.encoder import IMUEncoder
    from imuedge.train.metrics import macro_f1
    from imuedge.train.models import load_encoder

    split = load_hapt_windows(window=128, hop=128, seed=0)
    x = np.concatenate([split[s].x for s in ("train", "val", "test")])
    y = np.concatenate([split[s].y for s in ("train", "val", "test")])
    ids = split["train"].label_names
    names, k = [ids[i] for i in sorted(ids)], len(ids)

    def scores(make_encoder):
        t0 = time.time()
        row = {"accuracy": [], "macro_f1": [], "labelled": []}
        for seed in range(a.seeds):
            train, labelled, _, test = window_split(len(y), a.label_fraction, seed)
            encoder = make_encoder(seed)
            encoder.fit_normalization(x[train])  # unlabelled statistics of the training windows
            encoder.eval()
            feats = fewshot.embed(encoder, x, 256)
            mean, std = feats[train].mean(0, keepdims=True), feats[train].std(0, keepdims=True) + 1e-6
            head = fewshot.linear_probe((feats[labelled] - mean) / std, y[labelled], k)
            with torch.no_grad():
                pred = head(torch.from_numpy(((feats[test] - mean) / std).astype(np.float32))).argmax(1).numpy()
            row["accuracy"].append(round(float((pred == y[test]).mean()), 4))
            row["macro_f1"].append(round(macro_f1(y[test], pred, k), 4))
            row["labelled"].append(int(len(labelled)))
        row["mean"] = {m: round(float(np.mean(row[m])), 4) for m in ("accuracy", "macro_f1")}
        row["seconds"] = round(time.time() - t0, 1)
        return row

    header = {"protocol": "limu-bert", "windows": int(len(y)), "window": 128, "hop": 128, "sample_rate_hz": 50.0,
              "split": "random 80/10/10 of windows per seed (subjects shared)", "label_fraction": a.label_fraction,
              "classes": list(names)}
    if not a.no_random:
        def random_init(seed):
            torch.manual_seed(1000 + seed)
            return IMUEncoder(channels=split["train"].channels, backbone=a.backbone)
        print(json.dumps({"model": "random-init 2D", **header, **scores(random_init)}), flush=True)
    for path in a.encoders:
        print(json.dumps({"model": path, **header, **scores(lambda seed, p=path: load_encoder(p))}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
