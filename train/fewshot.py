"""Few-shot evaluation: frozen encoder + linear probe, and supervised baselines.

    embed(encoder, windows)            -> features of every window (no grad)
    linear_probe(feats, y, ...)        -> a logistic-regression head (L-BFGS)
    fit_probe(pool, feats, y, k)       -> a head on features standardised by the pool's statistics
    evaluate_probe(train, test, n, s)  -> macro-F1 of n labelled windows per class
    train_supervised(model, ...)       -> end-to-end training on labelled windows
    train_cnn1d(x, y, n, seed, k)      -> the 1D CNN from scratch (the main job's baseline)
    finetune(encoder, x, y, seed, k)   -> a pretrained encoder + a fresh head, end to end
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from imuedge.data.splits import few_shot_indices
from imuedge.train.metrics import confusion_matrix, macro_f1


BATCH = 32  # windows per forward pass in embed and predict (see channels_last)


@contextmanager
def channels_last(model: nn.Module):
    """``model`` in eval mode with its 4-D weights in channels-last order for the block, back in the usual
    order after it (so a checkpoint or an export sees no difference). oneDNN's convolutions run faster so:
    the shipped encoder on a 2-core Xeon embeds a window in 0.56-0.70 ms in batches of 32, against 0.99-1.12
    ms contiguous in batches of 64 (two runs); features within 2e-5 (``python -m benchmarks.fewshot_train_bench``)."""
    model.eval()
    model.to(memory_format=torch.channels_last)
    try:
        yield model
    finally:
        model.to(memory_format=torch.contiguous_format)


def forward_batches(model: nn.Module, x: np.ndarray, batch_size: int = BATCH, progress=None):
    """``model``'s output for ``x`` (N, C, T), ``batch_size`` windows at a time (larger batches spill a 2-core
    CPU's cache), channels-last and without gradients; ``progress(done, total)`` is called after each batch."""
    with torch.no_grad(), channels_last(model):
        for i in range(0, len(x), batch_size):
            yield model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size])))
            if progress is not None:
                progress(min(i + batch_size, len(x)), len(x))


def embed(encoder: nn.Module, x: np.ndarray, batch_size: int = BATCH, progress=None) -> np.ndarray:
    """Features of every window in ``x`` (N, C, T) from a frozen encoder (see ``forward_batches``)."""
    out = [f.float() for f in forward_batches(encoder, x, batch_size, progress)]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


@dataclass
class ProbeConfig:
    weight_decay: float = 1e-3  # L2 on the head, scaled by the number of examples
    max_iter: int = 200


def linear_probe(feats: np.ndarray, y: np.ndarray, num_classes: int,
                 cfg: ProbeConfig = ProbeConfig()) -> nn.Linear:
    """Multinomial logistic regression on (already standardised) features, full-batch L-BFGS."""
    torch.manual_seed(0)
    x = torch.from_numpy(np.asarray(feats, np.float32))
    t = torch.from_numpy(np.asarray(y, np.int64))
    head = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=cfg.max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(x), t) + cfg.weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return head


@dataclass
class ProbeResult:
    macro_f1: float
    y_pred: np.ndarray
    head: nn.Linear  # on standardised features: (feats - mean) / std
    mean: np.ndarray
    std: np.ndarray


def evaluate_probe(train_feats: np.ndarray, train_y: np.ndarray, test_feats: np.ndarray, test_y: np.ndarray,
                   n_per_class: int | None, seed: int, num_classes: int,
                   cfg: ProbeConfig = ProbeConfig()) -> ProbeResult:
    """Fit a probe on ``n_per_class`` labelled train windows (all when None); score on test.

    Features are standardised with statistics of the whole (unlabelled) train pool, so the
    only labels used are those of the sampled windows.
    """
    idx = np.arange(len(train_y)) if n_per_class is None else few_shot_indices(train_y, n_per_class, seed)
    head, mean, std = fit_probe(train_feats, train_feats[idx], train_y[idx], num_classes, cfg)
    with torch.no_grad():
        logits = head(torch.from_numpy(((test_feats - mean) / std).astype(np.float32)))
    pred = logits.argmax(1).numpy()
    return ProbeResult(macro_f1(test_y, pred, num_classes), pred, head, mean, std)


def fit_probe(pool_feats: np.ndarray, feats: np.ndarray, y: np.ndarray, num_classes: int,
              cfg: ProbeConfig = ProbeConfig()) -> tuple[nn.Linear, np.ndarray, np.ndarray]:
    """(head, mean, std): a probe on ``feats`` standardised by the statistics of ``pool_feats`` (unlabelled
    training windows' features, the probe's among them)."""
    mean = pool_feats.mean(0, keepdims=True)
    std = pool_feats.std(0, keepdims=True) + 1e-6
    return linear_probe((feats - mean) / std, y, num_classes, cfg), mean, std


@dataclass
class SupervisedConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    min_steps: int = 200  # few-shot sets are tiny: train for at least this many steps
    warmup_steps: int = 0  # linear warm-up of the learning rate before the cosine decay (0: none)
    layer_decay: float = 1.0  # < 1: layer-wise lr decay of an MAE classifier (see layer_groups); 1: one lr


def layer_groups(model: nn.Module, lr: float, decay: float) -> list[dict]:
    """AdamW parameter groups with layer-wise learning-rate decay (BEiT/MAE fine-tuning) for a
    ``Classifier`` on an ``MAEEncoder``: the head and the final norm get ``lr``, block ``i`` of ``depth``
    ``lr * decay ** (depth - i)``, the patch embedding ``lr * decay ** (depth + 1)``. So the layers
    nearest the input, which pretraining shaped most generally, move least."""
    from imuedge.train.mae import MAEEncoder

    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, MAEEncoder):
        raise ValueError(f"layer-wise lr decay needs a classifier on an MAE encoder, got {type(encoder).__name__}")
    depth = len(encoder.blocks)
    layers: dict[int, list] = {}
    for name, p in model.named_parameters():
        if name.startswith("encoder.blocks."):
            layer = int(name.split(".")[2]) + 1
        elif name.startswith("encoder.patch_embed"):
            layer = 0
        else:  # the encoder's final norm and the head
            layer = depth + 1
        layers.setdefault(layer, []).append(p)
    return [{"params": ps, "lr": lr * decay ** (depth + 1 - layer)} for layer, ps in sorted(layers.items())]


def lr_schedule(opt: torch.optim.Optimizer, steps: int, warmup_steps: int = 0):
    """Cosine decay to zero over ``steps``; with ``warmup_steps``, a linear rise to the peak first."""
    if not warmup_steps:
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    warm = min(warmup_steps, steps - 1)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda i: (i + 1) / (warm + 1) if i < warm else
                                             0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, steps - warm))))


def train_supervised(model: nn.Module, x: np.ndarray, y: np.ndarray, seed: int,
                     cfg: SupervisedConfig = SupervisedConfig(), progress=None) -> nn.Module:
    """Train ``model`` (windows -> logits) end to end with Adam and cross-entropy."""
    g = torch.Generator().manual_seed(seed)
    params = model.parameters() if cfg.layer_decay == 1.0 else layer_groups(model, cfg.lr, cfg.layer_decay)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    xs, ys = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.asarray(y, np.int64))
    n = len(xs)
    bs = min(cfg.batch_size, n)
    steps_per_epoch = max(1, n // bs)
    steps = max(cfg.epochs * steps_per_epoch, cfg.min_steps if n < cfg.batch_size * 10 else 0)
    sched = lr_schedule(opt, steps, cfg.warmup_steps)
    model.train()
    perm = torch.randperm(n, generator=g)
    pos = 0
    for _ in range(steps):
        if pos + bs > n:
            perm, pos = torch.randperm(n, generator=g), 0
        b = perm[pos:pos + bs]
        pos += bs
        loss = F.cross_entropy(model(xs[b]), ys[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress.update(1)
    model.eval()
    return model


def train_cnn1d(x: np.ndarray, y: np.ndarray, n_per_class: int | None, seed: int, num_classes: int,
                cfg: SupervisedConfig = SupervisedConfig()) -> nn.Module:
    """The main job's 1D CNN baseline from scratch: z-scored by the statistics of all of ``x`` (unlabelled),
    trained on ``n_per_class`` labelled windows per class drawn with ``seed`` (all when None) for
    ``cfg.epochs`` epochs (at least ``cfg.min_steps`` steps)."""
    from imuedge.train.backbones import CNN1D

    torch.manual_seed(seed)
    body = CNN1D(in_channels=x.shape[1])
    body.fit_normalization(torch.from_numpy(x))
    cnn = nn.Sequential(body, nn.Linear(body.out_dim, num_classes))
    idx = np.arange(len(y)) if n_per_class is None else few_shot_indices(y, n_per_class, seed)
    return train_supervised(cnn, x[idx], y[idx], seed, cfg)


def finetune(encoder: nn.Module, x: np.ndarray, y: np.ndarray, seed: int, num_classes: int,
             cfg: SupervisedConfig = SupervisedConfig(epochs=1), progress=None) -> nn.Module:
    """A copy of a pretrained ``encoder`` (its input statistics already fitted) + a fresh linear head,
    trained end to end on the labelled windows ``x``, ``y``: the main job's fine-tuned rows."""
    import copy

    from imuedge.train.encoder import Classifier

    torch.manual_seed(seed)
    return train_supervised(Classifier(copy.deepcopy(encoder), num_classes), x, y, seed, cfg, progress)


def predict(model: nn.Module, x: np.ndarray, batch_size: int = BATCH, progress=None) -> np.ndarray:
    """Class index of every window (see ``forward_batches``)."""
    return np.concatenate([logits.argmax(1).numpy() for logits in forward_batches(model, x, batch_size, progress)])


def score(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> tuple[float, np.ndarray]:
    return macro_f1(y_true, y_pred, num_classes), confusion_matrix(y_true, y_pred, num_classes)
