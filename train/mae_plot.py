"""Reconstruction plot of a masked autoencoder: original vs reconstructed channels, masked spans shaded.

    python -m imuedge.train.mae_plot runs/mae/last.pt --out reconstruction.png [--windows FILE.npz] [--seed 0]

Takes the pretraining checkpoint (``OUT/last.pt``, which holds the decoder), draws one window (by default
from HAPT's validation subjects, never seen in pretraining), masks it with the model's ratio and seed, and
plots every channel in z-scored units: the original, the reconstruction on the masked patches, and the
masked spans shaded. The title gives the window's masked-patch MSE.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch


def plot_reconstruction(mae, window: np.ndarray, path, seed: int = 0, title: str = "") -> float:
    """Plot one window ``(C, T)``; returns its loss on the masked patches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = torch.from_numpy(np.asarray(window, np.float32)[None])
    mae.eval()
    with torch.no_grad():
        loss, pred, mask = mae(x, generator=torch.Generator().manual_seed(seed))
        original = mae.encoder.standardize(x)[0].numpy()
        mixed = mae.reconstruct(x, pred, mask)[0].numpy()
    p, t = mae.cfg.patch, np.arange(x.shape[2])
    masked = mask[0].numpy().astype(bool)
    channels = mae.cfg.channels
    fig, axes = plt.subplots(len(channels), 1, figsize=(10, 1.4 * len(channels)), sharex=True)
    for c, ax in enumerate(np.atleast_1d(axes)):
        for i in np.flatnonzero(masked):
            ax.axvspan(i * p - 0.5, (i + 1) * p - 0.5, color="0.88", lw=0)
        ax.plot(t, original[c], color="k", lw=1.0, label="original")
        shown = np.where(np.repeat(masked, p), mixed[c], np.nan)
        ax.plot(t, shown, color="tab:red", lw=1.2, label="reconstruction (masked patches)")
        ax.set_ylabel(channels[c], rotation=0, ha="right", va="center")
    np.atleast_1d(axes)[0].legend(loc="upper right", fontsize=7, ncol=2)
    np.atleast_1d(axes)[-1].set_xlabel("sample (z-scored units; grey: masked spans)")
    fig.suptitle(title or f"MAE reconstruction, {masked.mean():.0%} of patches masked, "
                          f"masked-patch MSE {loss.item():.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return float(loss.item())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="MAE pretraining checkpoint (imuedge pretrain --method mae's OUT/last.pt)")
    ap.add_argument("--out", default="reconstruction.png", help="PNG to write")
    ap.add_argument("--windows", default="hapt-val",
                    help="hapt-val (HAPT validation subjects' labelled windows) or an .npz with x (N, C, T)")
    ap.add_argument("--index", type=int, default=0, help="which window")
    ap.add_argument("--seed", type=int, default=0, help="mask seed")
    a = ap.parse_args(argv)
    from imuedge.checkpoint import CheckpointError
    from imuedge.train.mae import MaskedAutoencoder
    from imuedge.train.models import load_model

    try:
        mae, _ = load_model(a.checkpoint)
    except CheckpointError as e:
        print(f"mae_plot: error: {e}", file=sys.stderr)
        return 2
    if not isinstance(mae, MaskedAutoencoder):
        print(f"mae_plot: error: {a.checkpoint} holds a {type(mae).__name__}, not a masked autoencoder "
              f"(use the pretraining run's last.pt, which keeps the decoder)", file=sys.stderr)
        return 2
    if a.windows == "hapt-val":
        from imuedge.data import load_hapt_windows

        x = load_hapt_windows(window=mae.cfg.window, hop=mae.cfg.window // 2, seed=0)["val"].x
    else:
        with np.load(a.windows) as z:
            x = z["x"].astype(np.float32)
    loss = plot_reconstruction(mae, x[a.index], a.out, a.seed)
    print(f"[mae_plot] {a.out}: masked-patch MSE {loss:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
