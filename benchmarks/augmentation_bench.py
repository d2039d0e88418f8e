"""Does synthetic data help? The generator's two augmentation protocols (issue #17), per seed.

    python -m benchmarks.augmentation_bench --protocol few_subjects --values 2 --seeds 0,1,2,3,4
    python -m benchmarks.augmentation_bench --protocol few_labels --values 10 --seeds 0,1,2,3,4
    python -m benchmarks.augmentation_bench --summarize        # the tables again from the JSONL

* few_subjects (IMUDiffusion's question): per seed, k of the default split's training
  subjects (a seeded draw, distinct across seeds). Their windows (hop ``--hop``, every
  label) train a teacher, which is distilled into a ``--student-steps`` student; the 1D CNN
  classifier is trained on the same windows (real only) and on them plus the student's
  synthetic windows (real + synthetic).
* few_labels: per seed, n labelled windows per class drawn from the training subjects'
  windows (hop 64, as the main job's few-shot protocol). A teacher is pretrained once,
  unconditionally (every class id the null class), on windows over the training subjects'
  whole recordings (no label picks them, not even which windows hold one of the six
  activities), so it is shared across seeds and values; per seed it is fine-tuned
  class-conditionally on exactly the n windows per class the classifier gets, then distilled.

``--generator latent`` runs both protocols with the TimeLDM-style generator instead (issue #22):
a VAE and a latent diffusion model trained on the same windows (few_subjects), or pretrained
without labels on the same whole recordings and fine-tuned on the n windows per class through
the pretrained, frozen VAE (few_labels), distilled the same way; write it to its own ``--out``.
``--generator vq`` does the same with the TimeVQVDM-style generator: both bands' VQ-VAEs and the
LF/HF priors trained on the same windows (few_subjects), or pretrained without labels and the
priors fine-tuned on the n windows per class through the frozen VQ-VAE (few_labels); the
cascade (both chains) distilled the same way.

Both: macro-F1 on the real test subjects (hop 64); synthetic windows per class = ``--ratios``
x the real windows of that class the classifier has; the gain is (real + synthetic) -
(real only) with the same classifier and seed. Nothing the classifier is not given reaches
the generator: ``check_no_leak`` raises ``LabelLeakError`` before any training otherwise
(labelled windows outside the classifier's set or with other labels, subjects outside the
classifier's, validation or test subjects anywhere, labels in the pretraining windows).

Budget (CPU): the defaults are what a 2-core CPU shared with other jobs (load average ~8,
so ~1/4 of a core per process) affords for 5 seeds of a cell in under an hour, 1 torch
thread: a UNet of base width 16 (the shipped teacher's 32: ~0.16 s instead of ~0.33 s per
step of 32 windows), a teacher of 600 steps (the shipped one: 3000), one distillation round
from DDIM-8 to 4 steps with 100 iterations (the shipped: 16 -> 8 -> 4 with 400 each), the
few_labels pretraining 1000 steps and its fine-tuning 200; generator windows at hop 32.
Every budget is a flag; a GPU run would raise them all.

Writes, under ``--out``: raw/<protocol>_<value>.jsonl (one line per seed, appended when the
seed ends; a seed already there with the same budget is skipped, so a stopped run goes on),
augmentation_bench.json (every cell: mean and sample std over seeds, "not run" where no
seed ran) and augmentation_bench.md. Checkpoints go to ``--work`` (not committed).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from imuedge.atomic import atomic_write
from imuedge.machine import describe

PROTOCOLS = {"few_subjects": (2, 4, 8), "few_labels": (2, 5, 10)}
VALUE_NAME = {"few_subjects": "k", "few_labels": "n"}
ACCEPTANCE = {"few_subjects": 2, "few_labels": 10}  # the cells acceptance 3 names
TARGET_GAIN = 0.03


class LabelLeakError(RuntimeError):
    """The generator would be given a label, a window or a subject the classifier is not given."""


@dataclass
class Budget:
    teacher_steps: int = 600  # few_subjects: teacher optimiser steps
    pretrain_steps: int = 1000  # few_labels: unconditional pretraining steps (shared across seeds)
    finetune_steps: int = 200  # few_labels: class-conditional fine-tuning steps on the n windows per class
    batch_size: int = 32
    base: int = 16  # UNet base width (the shipped teacher's: 32, 4x the parameters, 2x the time per step)
    distill_start: int = 8  # DDIM steps of the first distillation teacher
    student_steps: int = 4
    distill_iterations: int = 100  # per halving
    guidance: float = 1.5
    hop: int = 32  # the generator's windows (and few_subjects' classifier's)
    ratios: tuple[float, ...] = (1.0,)  # synthetic windows per class / the classifier's real ones
    classifier_epochs: int = 10
    generator: str = "stft"  # one of GENERATORS
    vae_steps: int = 1500  # latent: VAE steps (few_labels: its unlabelled pretraining)
    latent_steps: int = 2000  # latent: latent model steps (few_labels: its unconditional pretraining)
    latent_finetune_steps: int = 300  # latent, few_labels: class-conditional fine-tuning on the n windows per class
    vqvae_steps: int = 1000  # vq: both bands' VQ-VAE steps (few_labels: their unlabelled pretraining)
    vqprior_steps: int = 1500  # vq: LF + HF prior steps (few_labels: their unconditional pretraining)
    vqprior_finetune_steps: int = 300  # vq, few_labels: the priors' class-conditional fine-tuning


GENERATORS = ("stft", "latent", "vq")  # the STFT-domain teacher, the TimeLDM-style VAE + latent model, TimeVQVDM-style
# each generator's own budget fields: a row records only its generator's (and an STFT row none, nor "generator",
# as the rows written before the other generators record it)
ONLY = {"latent": ("vae_steps", "latent_steps", "latent_finetune_steps"),
        "vq": ("vqvae_steps", "vqprior_steps", "vqprior_finetune_steps")}


@dataclass
class Labelled:
    """Windows a model is given with their labels: x (N, C, T), y (N,), subject (N,), key (N,) 'recording:start'."""

    x: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    key: np.ndarray

    @classmethod
    def of(cls, ws) -> "Labelled":
        key = np.array([f"{r}:{s}" for r, s in zip(ws.recording, ws.start)])
        return cls(ws.x, np.asarray(ws.y, np.int64), np.asarray(ws.subject, np.int64), key)


def check_no_leak(generator: Labelled, classifier: Labelled, withheld_subjects, unlabelled_y=None,
                  unlabelled_subjects=None, null_class: int | None = None) -> None:
    """Raise LabelLeakError unless every labelled window the generator gets is one the classifier gets, with
    the same label; the generator's subjects are the classifier's; no withheld (validation, test) subject
    reaches it; and its unlabelled (pretraining) windows carry only ``null_class``."""
    given = dict(zip(classifier.key.tolist(), classifier.y.tolist()))
    unknown = [k for k in generator.key.tolist() if k not in given]
    if unknown:
        raise LabelLeakError(f"the generator would be conditioned on {len(unknown)} labelled window(s) the "
                             f"classifier is not given (e.g. {unknown[0]})")
    other = [k for k, y in zip(generator.key.tolist(), generator.y.tolist()) if given[k] != y]
    if other:
        raise LabelLeakError(f"{len(other)} window(s) carry another label for the generator than for the "
                             f"classifier (e.g. {other[0]})")
    extra = sorted(set(generator.subject.tolist()) - set(classifier.subject.tolist()))
    if extra:
        raise LabelLeakError(f"the generator would see subjects {extra} the classifier is not given")
    withheld = set(int(s) for s in withheld_subjects)
    seen = set(generator.subject.tolist()) | set(np.asarray(unlabelled_subjects if unlabelled_subjects is not None
                                                            else [], np.int64).tolist())
    if seen & withheld:
        raise LabelLeakError(f"withheld (validation/test) subjects {sorted(seen & withheld)} would reach the generator")
    if unlabelled_y is not None and np.any(np.asarray(unlabelled_y) != null_class):
        raise LabelLeakError(f"the generator's pretraining windows carry labels "
                             f"({int(np.sum(np.asarray(unlabelled_y) != null_class))} not the null class)")


def subject_draws(subjects, k: int, seeds) -> dict[int, list[int]]:
    """Seed -> k subjects: seed s draws with numpy's generator seeded (k, s), drawing again while the set
    equals an earlier seed's, so every seed's draw is distinct and does not depend on which seeds run."""
    subjects = sorted(int(s) for s in subjects)
    out, taken = {}, set()
    for s in range(max(seeds) + 1):
        g = np.random.default_rng([k, s])
        for _ in range(1000):
            draw = tuple(sorted(int(v) for v in g.choice(subjects, k, replace=False)))
            if draw not in taken or len(taken) >= _combinations(len(subjects), k):
                break
        taken.add(draw)
        out[s] = list(draw)
    return {s: out[s] for s in seeds}


def _combinations(n: int, k: int) -> int:
    from math import comb

    return comb(n, k)


def few_subjects_sets(train_windows, k: int, seed: int, seeds) -> tuple[Labelled, Labelled, dict]:
    """(generator's labelled windows, classifier's, info) of protocol (a): the same k subjects' windows."""
    subjects = subject_draws(np.unique(train_windows.subject), k, seeds)[seed]
    ws = Labelled.of(train_windows.subset(np.flatnonzero(np.isin(train_windows.subject, subjects))))
    return ws, ws, {"subjects": subjects}


def few_labels_sets(train_windows, n: int, seed: int, num_classes: int) -> tuple[Labelled, Labelled, dict]:
    """(generator's conditioning windows, classifier's labelled windows, info) of protocol (b): the same n
    windows per class, drawn with numpy's generator seeded (n, seed)."""
    g = np.random.default_rng([n, seed])
    idx = np.concatenate([g.choice(np.flatnonzero(train_windows.y == c), n, replace=False)
                          for c in range(num_classes)])
    ws = Labelled.of(train_windows.subset(idx))
    return ws, ws, {"windows_per_class": n}


@dataclass
class Data:
    names: tuple[str, ...]
    channels: tuple[str, ...]
    train_hop: object  # WindowSet, training subjects' labelled windows, hop = budget.hop
    train_64: object  # WindowSet, training subjects' labelled windows, hop 64
    unlabelled: object  # WindowSet, training subjects' whole recordings, hop = budget.hop, no label at all
    test: object  # WindowSet, test subjects, hop 64
    withheld: tuple[int, ...]  # validation and test subjects


def load_data(hop: int) -> Data:
    from imuedge.data import load_hapt_windows
    from imuedge.train.image_sources import hapt_train_windows

    s64 = load_hapt_windows(window=128, hop=64, seed=0)
    train_hop = s64["train"] if hop == 64 else load_hapt_windows(window=128, hop=hop, seed=0)["train"]
    names = tuple(s64["train"].label_names[i] for i in sorted(s64["train"].label_names))
    withheld = tuple(sorted(set(s64["val"].subject.tolist()) | set(s64["test"].subject.tolist())))
    return Data(names=names, channels=tuple(s64["train"].channels), train_hop=train_hop, train_64=s64["train"],
                unlabelled=hapt_train_windows(128, hop, split_seed=0), test=s64["test"], withheld=withheld)


def make_student(gen: Labelled, data: Data, budget: Budget, work: Path, seed: int, steps: int, init: str = "",
                 description: str = "") -> Path:
    """Train a teacher on ``gen`` (from ``init`` when given), distil it; the student's checkpoint."""
    from imuedge.train.diffusion.distill import DistillConfig, distill

    if budget.generator == "latent":
        teacher = latent_teacher(gen, data, budget, work, seed, init, description)
    elif budget.generator == "vq":
        teacher = vq_teacher(gen, data, budget, work, seed, init, description)
    else:
        teacher = stft_teacher(gen, data, budget, work, seed, steps, init, description)
    dcfg = DistillConfig(teacher=str(teacher), out=str(work / "student"), start_steps=budget.distill_start,
                         keep=(budget.student_steps,), guidance=budget.guidance,
                         iterations=budget.distill_iterations, batch_size=budget.batch_size, seed=seed, threads=1)
    return distill(dcfg, quiet=True, windows=(gen.x, gen.y))[budget.student_steps]


def stft_teacher(gen: Labelled, data: Data, budget: Budget, work: Path, seed: int, steps: int, init: str,
                 description: str) -> Path:
    from imuedge.train.diffusion.train import TrainConfig, train

    cfg = TrainConfig(out=str(work / "teacher"), steps=steps, batch_size=budget.batch_size, seed=seed,
                      hop=budget.hop, checkpoint_every=steps, threads=1, device="cpu",
                      warmup=min(200, max(1, steps // 10)))
    cfg.model.base = budget.base
    return train(cfg, quiet=True, windows=(gen.x, gen.y, data.names, data.channels, description), init=init)


def latent_teacher(gen: Labelled, data: Data, budget: Budget, work: Path, seed: int, init: str,
                   description: str) -> Path:
    """A VAE and a latent model trained on ``gen``; or, with ``init`` (a pretrained latent model), that model
    fine-tuned on ``gen`` through its own (pretrained, frozen) VAE."""
    from imuedge import checkpoint
    from imuedge.train.diffusion.latent_train import LatentTrainConfig, train_latent

    windows = (gen.x, gen.y, data.names, data.channels, description)
    if init:
        vae = checkpoint.load(init)["train"]["config"]["vae"]  # the pretrained model's VAE (train_latent loads both)
        steps = budget.latent_finetune_steps
    else:
        vae, steps = latent_vae(windows, budget, work / "vae", seed), budget.latent_steps
    cfg = LatentTrainConfig(vae=str(vae), out=str(work / "latent"), steps=steps, batch_size=budget.batch_size,
                            seed=seed, threads=1, checkpoint_every=steps, warmup=min(100, max(1, steps // 10)))
    return train_latent(cfg, quiet=True, windows=windows, init=init)


def latent_vae(windows, budget: Budget, out: Path, seed: int) -> Path:
    from imuedge.train.diffusion.latent_train import VAETrainConfig, train_vae

    cfg = VAETrainConfig(out=str(out), steps=budget.vae_steps, batch_size=budget.batch_size, seed=seed, threads=1,
                         checkpoint_every=budget.vae_steps)
    return train_vae(cfg, quiet=True, windows=windows)


def vq_teacher(gen: Labelled, data: Data, budget: Budget, work: Path, seed: int, init: str,
               description: str) -> Path:
    """Both bands' VQ-VAEs and the LF/HF priors trained on ``gen``; or, with ``init`` (a pretrained VQ model), its
    priors fine-tuned on ``gen`` through its own (pretrained, frozen) VQ-VAE."""
    from imuedge import checkpoint
    from imuedge.train.diffusion import vq_train

    windows = (gen.x, gen.y, data.names, data.channels, description)
    if init:
        vqvae = checkpoint.load(init)["train"]["config"]["vqvae"]
        steps = budget.vqprior_finetune_steps
    else:
        cfg = vq_train.VQVAETrainConfig(out=str(work / "vqvae"), steps=budget.vqvae_steps,
                                        batch_size=budget.batch_size, seed=seed, threads=1,
                                        checkpoint_every=budget.vqvae_steps)
        vqvae = vq_train.train_vqvae(cfg, quiet=True, windows=windows)
        steps = budget.vqprior_steps
    cfg = vq_train.VQPriorTrainConfig(vqvae=str(vqvae), out=str(work / "vq"), steps=steps,
                                      batch_size=budget.batch_size, seed=seed, threads=1, checkpoint_every=steps,
                                      warmup=min(100, max(1, steps // 10)))
    return vq_train.train_vqprior(cfg, quiet=True, windows=windows, init=init)


def pretrain(data: Data, budget: Budget, work: Path) -> Path:
    """The few_labels teacher pretrained without labels on the training subjects' whole recordings (windows
    that cross label changes and unlabelled stretches, as IMG2IMU's pretraining takes them; no label, not even
    which windows belong to the six classes, picks them), every window's class the null class; cached in
    ``work`` by its budget, so seeds and values share it."""
    from imuedge.data.recording import UNLABELLED
    from imuedge.train.diffusion.train import TrainConfig, train

    if budget.generator == "latent":
        out = work / (f"pretrain_latent_v{budget.vae_steps}_s{budget.latent_steps}_b{budget.batch_size}"
                      f"_h{budget.hop}")
        done = out / "latent" / "latent.pt"
    elif budget.generator == "vq":
        out = work / (f"pretrain_vq_v{budget.vqvae_steps}_s{budget.vqprior_steps}_b{budget.batch_size}"
                      f"_h{budget.hop}")
        done = out / "vq" / "vq.pt"
    else:
        out = work / f"pretrain_recordings_s{budget.pretrain_steps}_b{budget.batch_size}_w{budget.base}_h{budget.hop}"
        done = out / "teacher.pt"
    if done.exists():
        return done
    ws = data.unlabelled
    none = Labelled.of(data.train_64.subset(np.array([], np.int64)))
    check_no_leak(none, none, data.withheld, unlabelled_y=ws.y, unlabelled_subjects=ws.subject, null_class=UNLABELLED)
    null = np.full(len(ws), len(data.names), np.int64)
    desc = f"UCI HAPT training subjects' whole recordings (split seed 0), {len(ws)} windows, no labels"
    if budget.generator in ONLY:  # the (VQ-)VAE and the unconditional prior(s), on the same unlabelled windows
        teacher = latent_teacher if budget.generator == "latent" else vq_teacher
        return teacher(Labelled(ws.x, null, np.asarray(ws.subject, np.int64), np.array([])), data, budget, out, 0,
                       "", desc)
    cfg = TrainConfig(out=str(out), steps=budget.pretrain_steps, batch_size=budget.batch_size, seed=0,
                      hop=budget.hop, checkpoint_every=500, threads=1, device="cpu")
    cfg.model.base = budget.base
    return train(cfg, quiet=True, windows=(ws.x, null, data.names, data.channels, desc))


def synthesize(student: Path, per_class: np.ndarray, seed: int, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    from imuedge.train.diffusion.distill import load_student

    sampler, _ = load_student(student)
    c = torch.repeat_interleave(torch.arange(len(per_class)), torch.as_tensor(per_class))
    g = torch.Generator().manual_seed(10_000 + seed)
    with torch.no_grad():
        x = torch.cat([sampler(torch.randn((len(c[i:i + batch]), *sampler.noise_shape), generator=g), c[i:i + batch])
                       for i in range(0, len(c), batch)])
    return x.numpy().astype(np.float32), c.numpy().astype(np.int64)


def classifier_f1(x, y, data: Data, seed: int, budget: Budget) -> float:
    """The generator report's fixed classifier (evaluate.cnn_f1: the 1D CNN baseline), test subjects."""
    from imuedge.train.diffusion.evaluate import cnn_f1

    return float(cnn_f1(x, y, data.test.x, data.test.y, len(data.names), seed, budget.classifier_epochs))


def run_seed(protocol: str, value: int, seed: int, data: Data, budget: Budget, work: Path, seeds) -> dict:
    """One seed of one cell: the record written to the JSONL."""
    torch.set_num_threads(1)
    k = len(data.names)
    t0, load0 = time.time(), os.getloadavg()
    if protocol == "few_subjects":
        gen, clf, info = few_subjects_sets(data.train_hop, value, seed, seeds)
        check_no_leak(gen, clf, data.withheld)
        init, steps, desc = "", budget.teacher_steps, f"UCI HAPT subjects {info['subjects']}, {len(gen.y)} windows"
    elif protocol == "few_labels":
        gen, clf, info = few_labels_sets(data.train_64, value, seed, k)
        check_no_leak(gen, clf, data.withheld)
        init, steps = str(pretrain(data, budget, work)), budget.finetune_steps
        desc = f"UCI HAPT training subjects, {value} labelled windows per class (seed {seed})"
    else:
        raise ValueError(f"unknown protocol {protocol!r} (one of {', '.join(PROTOCOLS)})")
    t_ready = time.time()
    cell = work / f"{protocol}_{value}_seed{seed}"
    shutil.rmtree(cell, ignore_errors=True)
    student = make_student(gen, data, budget, cell, seed, steps, init, desc)
    t_gen = time.time()
    real_per_class = np.bincount(clf.y, minlength=k)
    rec = {"protocol": protocol, VALUE_NAME[protocol]: value, "seed": seed, **info,
           "real_windows": int(len(clf.y)), "real_per_class": real_per_class.tolist(),
           "f1_real_only": classifier_f1(clf.x, clf.y, data, seed, budget), "synthetic": {}}
    for ratio in budget.ratios:
        per_class = np.maximum(1, np.round(ratio * real_per_class)).astype(np.int64)
        sx, sy = synthesize(student, per_class, seed)
        f1 = classifier_f1(np.concatenate([clf.x, sx]), np.concatenate([clf.y, sy]), data, seed, budget)
        rec["synthetic"][f"{ratio:g}"] = {"synthetic_per_class": per_class.tolist(), "f1_real_plus_synthetic": f1,
                                          "gain": f1 - rec["f1_real_only"]}
    rec.update(budget=budget_dict(budget), seconds={"pretrain_or_draw": round(t_ready - t0, 1),
                                                    "generator": round(t_gen - t_ready, 1),
                                                    "classifiers_and_sampling": round(time.time() - t_gen, 1)},
               load_average={"start": [round(v, 2) for v in load0], "end": [round(v, 2) for v in os.getloadavg()]},
               machine=f"{describe()}, 1 torch thread", code=git_rev(), test_windows=int(len(data.test.y)))
    shutil.rmtree(cell, ignore_errors=True)
    return rec


def budget_dict(b: Budget) -> dict:
    d = {**asdict(b), "ratios": list(b.ratios)}
    for g, keys in ONLY.items():
        if g != b.generator:
            for k in keys:
                d.pop(k)
    if b.generator == "stft":
        d.pop("generator")
    return d


@functools.lru_cache(maxsize=None)
def git_rev() -> str:
    """The commit this process started on (cached: main() asks before the first seed)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return ""


def read_rows(out: Path) -> list[dict]:
    rows = []
    for f in sorted((out / "raw").glob("*.jsonl")):
        rows += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return rows


def spread(v: list[float]) -> dict:
    a = np.asarray(v, float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else None, "median": float(np.median(a)),
            "min": float(a.min()), "max": float(a.max()), "per_seed": [round(float(x), 4) for x in a]}


def summarize(out: Path, commands: list[str] | None = None) -> dict:
    """Every cell of both protocols from the JSONL rows: mean, sample std (ddof 1) over seeds, or not run."""
    rows = read_rows(out)
    cells = []
    for protocol, values in PROTOCOLS.items():
        name = VALUE_NAME[protocol]
        for value in values:
            rs = sorted((r for r in rows if r["protocol"] == protocol and r[name] == value), key=lambda r: r["seed"])
            cell = {"protocol": protocol, name: value, "seeds": [r["seed"] for r in rs]}
            if not rs:
                cells.append({**cell, "status": "not run"})
                continue
            budgets = {json.dumps(r["budget"], sort_keys=True) for r in rs}
            cell.update(status="run" if len(rs) >= 5 else f"partial ({len(rs)} seeds)",
                        budget=rs[0]["budget"] if len(budgets) == 1 else "differs between seeds",
                        real_windows=spread([r["real_windows"] for r in rs]),
                        f1_real_only=spread([r["f1_real_only"] for r in rs]),
                        seconds_per_seed=spread([sum(r["seconds"].values()) for r in rs]), synthetic={})
            for ratio in sorted({q for r in rs for q in r["synthetic"]}, key=float):
                got = [r for r in rs if ratio in r["synthetic"]]
                cell["synthetic"][ratio] = {
                    "seeds": [r["seed"] for r in got],
                    "f1_real_plus_synthetic": spread([r["synthetic"][ratio]["f1_real_plus_synthetic"] for r in got]),
                    "gain": spread([r["synthetic"][ratio]["gain"] for r in got])}
            cells.append(cell)
    summary = {"what": "macro-F1 of the 1D CNN on the HAPT test subjects (split seed 0), real only vs real + "
                       "student-synthetic; std = sample std over seeds (ddof 1)",
               "acceptance_3": acceptance(cells), "cells": cells,
               "machines": sorted({r["machine"].split("; load average")[0] for r in rows}),  # load: its own field
               "code": sorted({r["code"] for r in rows}),
               "generators": sorted({r["budget"].get("generator", "stft") for r in rows}),
               "load_average_range": [min((r["load_average"]["start"][0] for r in rows), default=None),
                                      max((r["load_average"]["end"][0] for r in rows), default=None)],
               "commands": commands or []}
    atomic_write(out / "augmentation_bench.json", lambda f: f.write(json.dumps(summary, indent=2) + "\n"))
    atomic_write(out / "augmentation_bench.md", lambda f: f.write(markdown(summary)))
    return summary


def acceptance(cells: list[dict]) -> dict:
    """Acceptance 3: a mean gain >= 0.03 over 5 seeds at few_subjects k=2 or few_labels n=10 (any ratio)."""
    best = []
    for c in cells:
        value = c.get(VALUE_NAME[c["protocol"]])
        if ACCEPTANCE[c["protocol"]] != value or c["status"] == "not run":
            continue
        for ratio, s in c["synthetic"].items():
            best.append({"protocol": c["protocol"], "value": value, "ratio": ratio, "seeds": len(s["seeds"]),
                         "mean_gain": s["gain"]["mean"], "met": len(s["seeds"]) >= 5 and s["gain"]["mean"] >= TARGET_GAIN})
    return {"target_gain": TARGET_GAIN, "rows": best, "met": any(r["met"] for r in best)}


def fmt(s: dict | None, signed: bool = False) -> str:
    if s is None:
        return "-"
    f = "{:+.3f}" if signed else "{:.3f}"
    return f.format(s["mean"]) + (f" ± {s['std']:.3f}" if s["std"] is not None else "")


def markdown(summary: dict) -> str:
    lines = ["# Augmentation protocols: real only vs real + student-synthetic (HAPT, 1D CNN, test subjects)", "",
             f"{summary['what']}. Generator: {', '.join(summary.get('generators', [])) or '-'}. Machines: {'; '.join(summary['machines']) or '-'}. Code: "
             f"{', '.join(summary['code']) or '-'}. Load average (1 min) between {summary['load_average_range'][0]} "
             f"and {summary['load_average_range'][1]}.", "",
             "| protocol | k / n | seeds | real windows | real only | synthetic per class | real + synthetic | "
             "gain (mean ± std) | median gain | gain per seed | s per seed (median) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in summary["cells"]:
        name = VALUE_NAME[c["protocol"]]
        head = f"| {c['protocol']} | {name}={c[name]} |"
        if c["status"] == "not run":
            lines.append(f"{head} not run | - | - | - | - | - | - | - | - |")
            continue
        for ratio, s in c["synthetic"].items():
            lines.append(f"{head} {len(s['seeds'])} | {c['real_windows']['mean']:.0f} | {fmt(c['f1_real_only'])} | "
                         f"{ratio} x real | {fmt(s['f1_real_plus_synthetic'])} | {fmt(s['gain'], True)} | "
                         f"{s['gain']['median']:+.3f} | {', '.join(f'{g:+.3f}' for g in s['gain']['per_seed'])} | "
                         f"{c['seconds_per_seed']['median']:.0f} |")
    a = summary["acceptance_3"]
    lines += ["", f"Acceptance 3 (mean gain >= {a['target_gain']} over 5 seeds at few_subjects k=2 or few_labels "
                  f"n=10): **{'met' if a['met'] else 'not met'}**."]
    for r in a["rows"]:
        lines.append(f"* {r['protocol']} {r['value']}, {r['ratio']} x real: mean gain {r['mean_gain']:+.3f} "
                     f"over {r['seeds']} seeds")
    if summary["commands"]:
        lines += ["", "Commands:", ""] + [f"    {c}" for c in summary["commands"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    d = Budget()
    p = argparse.ArgumentParser(prog="python -m benchmarks.augmentation_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocol", choices=list(PROTOCOLS), help="few_subjects (a) or few_labels (b)")
    p.add_argument("--values", default="", help="k (few_subjects) or n (few_labels) values, comma-separated "
                                                "(default: 2,4,8 / 2,5,10)")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--out", default="benchmarks/results/augmentation")
    p.add_argument("--work", default="runs/augmentation", help="checkpoints (large; not committed)")
    p.add_argument("--summarize", action="store_true", help="only rewrite the summary from the JSONL")
    p.add_argument("--commands", default="", help="a file of the commands that made the JSONL (for the summary)")
    for f in fields(Budget):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "ratios":
            p.add_argument(flag, default=",".join(f"{r:g}" for r in d.ratios),
                           help="synthetic windows per class as multiples of the real ones, comma-separated")
        else:
            p.add_argument(flag, type=type(getattr(d, f.name)), default=getattr(d, f.name))
    a = p.parse_args(argv)
    out = Path(a.out)
    if a.commands and not Path(a.commands).is_file():
        p.error(f"--commands {a.commands}: no such file (write the commands that make the JSONL there first)")
    commands = Path(a.commands).read_text().splitlines() if a.commands else None
    if a.summarize:
        print(markdown(summarize(out, commands)))
        return 0
    if not a.protocol:
        p.error("give --protocol (or --summarize)")
    budget = Budget(**{f.name: getattr(a, f.name) for f in fields(Budget) if f.name != "ratios"},
                    ratios=tuple(float(r) for r in a.ratios.split(",")))
    if budget.generator not in GENERATORS:
        p.error(f"--generator {budget.generator}: one of {', '.join(GENERATORS)}")
    values = [int(v) for v in a.values.split(",")] if a.values else list(PROTOCOLS[a.protocol])
    seeds = [int(s) for s in a.seeds.split(",")]
    git_rev()
    data = load_data(budget.hop)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    for value in values:
        raw = out / "raw" / f"{a.protocol}_{VALUE_NAME[a.protocol]}{value}.jsonl"
        done = {r["seed"] for r in read_rows(out) if r["protocol"] == a.protocol
                and r[VALUE_NAME[a.protocol]] == value and r["budget"] == budget_dict(budget)}
        for seed in seeds:
            if seed in done:
                print(f"[augmentation] {a.protocol} {value} seed {seed}: already in {raw}", flush=True)
                continue
            rec = run_seed(a.protocol, value, seed, data, budget, Path(a.work), seeds)
            with open(raw, "a") as f:
                f.write(json.dumps(rec) + "\n")
            print(f"[augmentation] {a.protocol} {VALUE_NAME[a.protocol]}={value} seed {seed}: real only "
                  f"{rec['f1_real_only']:.3f}, " + ", ".join(f"{r}x: {s['f1_real_plus_synthetic']:.3f} "
                                                             f"({s['gain']:+.3f})" for r, s in rec["synthetic"].items())
                  + f"; {rec['seconds']}", flush=True)
            summarize(out, commands)
    return 0


if __name__ == "__main__":
    sys.exit(main())
