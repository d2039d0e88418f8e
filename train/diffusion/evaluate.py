"""The generator's evaluation report: `python -m imuedge.train.diffusion.evaluate` (JSON + markdown + PNG).

For each sampler -- the teacher with DDIM at 50 / 10 / 4 steps (and its full ancestral
DDPM chain when ``--ddpm-windows`` > 0) and each distilled student -- on HAPT (split
seed 0, six basic activities; the generator saw only the training subjects):

* TSTR: the 1D CNN baseline (train/backbones.CNN1D, the main job's) trained on
  ``--per-class`` synthetic windows per class, macro-F1 on the real test subjects;
  TRTR: the same classifier trained on as many real training windows per class.
* discriminative score: |accuracy - 0.5| of a 1D CNN trained to tell real training
  windows from synthetic ones, on held-out halves of both.
* Frechet distance between real test and synthetic windows in the shipped IMG2IMU
  encoder's embedding (train/weights/img2imu_edge_sensor.pt; spectrogram
  normalisation fitted on the real training windows): Gaussian fits of both sets'
  embeddings, ||mu_r - mu_s||^2 + Tr(S_r + S_s - 2 (S_r S_s)^1/2).
* samples per second on this CPU (one thread, batch ``--batch``), measured in
  this run, side by side.
* how much the synthetic windows move, per class and sensor: the median over windows of
  a window's standard deviation about its own mean (all three axes of the sensor),
  synthetic over the real training windows of that class; 1 is the same. It says where a
  discriminative score comes from: with issue #17's first teacher (DDIM 10), the static
  classes' accelerometer moved 10-13x more than real (gyroscope 2-3x), the walking
  classes 0.66-0.82x.

``--synthetic DIR`` adds a row for windows already written as CSV recordings
(``imuedge generate``, e.g. from an exported bundle), read back through the data layer
(``load_recordings`` + ``make_windows``), as ``imuedge train`` would read them.
``--ddim 4`` keeps only the fast teacher sampler (the main job's fast part).
``--latent runs/ldm/latent.pt`` adds the latent (TimeLDM-style) generator's rows (DDIM at
10 and 4 steps, same guidance) and its VAE's reconstruction RMSE on the real test
windows; ``--teacher`` may then be left out. ``--vq runs/vq/vq.pt`` does the same for the
VQ (TimeVQVDM-style) cascade (LF then HF, each DDIM at 10 and 4 steps, with the guidance
rescaling and halt stored in its checkpoint) and its two-band VQ-VAE.

The augmentation protocols (few subjects, few labels) are not run by this command.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from imuedge.atomic import atomic_write
from imuedge.machine import describe


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(sa @ sb)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa + sb - 2 * covmean))


def cnn_f1(train_x, train_y, test_x, test_y, k: int, seed: int = 0, epochs: int = 10) -> float:
    from dataclasses import replace

    from imuedge.train import fewshot
    from imuedge.train.backbones import CNN1D

    torch.manual_seed(seed)
    body = CNN1D(in_channels=train_x.shape[1])
    body.fit_normalization(torch.from_numpy(np.ascontiguousarray(train_x)))
    cnn = torch.nn.Sequential(body, torch.nn.Linear(body.out_dim, k))
    fewshot.train_supervised(cnn, train_x, train_y, seed, replace(fewshot.SupervisedConfig(), epochs=epochs))
    return fewshot.score(test_y, fewshot.predict(cnn, test_x), k)[0]


def discriminative_score(real: np.ndarray, synth: np.ndarray, seed: int = 0) -> float:
    g = np.random.default_rng(seed)
    n = min(len(real), len(synth))
    r, s = real[g.choice(len(real), n, replace=False)], synth[g.choice(len(synth), n, replace=False)]
    half = n // 2
    x_tr = np.concatenate([r[:half], s[:half]])
    y_tr = np.r_[np.zeros(half), np.ones(half)].astype(np.int64)
    x_te = np.concatenate([r[half:], s[half:]])
    y_te = np.r_[np.zeros(n - half), np.ones(n - half)].astype(np.int64)
    from dataclasses import replace

    from imuedge.train import fewshot
    from imuedge.train.backbones import CNN1D

    torch.manual_seed(seed)
    body = CNN1D(in_channels=real.shape[1])
    body.fit_normalization(torch.from_numpy(np.ascontiguousarray(x_tr)))
    cnn = torch.nn.Sequential(body, torch.nn.Linear(body.out_dim, 2))
    fewshot.train_supervised(cnn, x_tr, y_tr, seed, replace(fewshot.SupervisedConfig(), epochs=10))
    return abs(float(np.mean(fewshot.predict(cnn, x_te) == y_te)) - 0.5)


def motion(x: np.ndarray) -> np.ndarray:
    """(N, 2): each window's standard deviation about its own mean, over the accelerometer's and the
    gyroscope's three axes (m/s^2, rad/s)."""
    d = x - x.mean(axis=2, keepdims=True)
    return np.stack([d[:, :3].std(axis=(1, 2)), d[:, 3:].std(axis=(1, 2))], axis=1)


def motion_vs_real(real_x: np.ndarray, real_y: np.ndarray, synth_x: np.ndarray, synth_y: np.ndarray,
                   names: list[str]) -> dict:
    """{class: {"acc": r, "gyro": r}}: median ``motion`` of the class's synthetic windows over its real ones'."""
    out = {}
    for c, name in enumerate(names):
        r, s = motion(real_x[real_y == c]), motion(synth_x[synth_y == c])
        if len(r) and len(s):
            ratio = np.median(s, axis=0) / np.maximum(np.median(r, axis=0), 1e-12)
            out[name] = {"acc": round(float(ratio[0]), 3), "gyro": round(float(ratio[1]), 3)}
    return out


def samplers(teacher_path, students: list[str], ddpm: bool, guidance: float, latent_path=None,
             ddim=(50, 10, 4), vq_path=None):
    """name -> (function (class ids tensor, generator) -> windows, network evaluations per window)."""
    from imuedge.train.diffusion.distill import load_student, student_name
    from imuedge.train.diffusion.train import load_diffusion

    nfe = 1 if guidance == 1.0 else 2
    out = {}
    if latent_path:
        from imuedge.train.diffusion.latent_train import load_latent

        latent, _ = load_latent(latent_path)
        for n in (10, 4):
            out[f"latent DDIM {n}"] = ((lambda n: lambda c, g: latent.sample(c, "ddim", n, guidance, g))(n), nfe * n)
    if vq_path:
        from imuedge.train.diffusion.vq_train import load_vq

        vq, _ = load_vq(vq_path)
        for n in (10, 4):  # two chains (LF, then HF) of n steps
            out[f"VQ cascade DDIM {n}"] = ((lambda n: lambda c, g: vq.sample(c, "ddim", n, guidance, g))(n),
                                           2 * nfe * n)
    if teacher_path:
        teacher, _ = load_diffusion(teacher_path)
        if ddpm:
            T = teacher.schedule.num_train_timesteps
            out[f"teacher DDPM {T}"] = (lambda c, g: teacher.sample(c, "ddpm", T, guidance, g), nfe * T)
        for n in ddim:
            out[f"teacher DDIM {n}"] = ((lambda n: lambda c, g: teacher.sample(c, "ddim", n, guidance, g))(n),
                                        nfe * n)
    for path in students:  # the STFT teacher's ("student 4-step") or the latent model's ("latent student 4-step")
        s, ck = load_student(path)

        def run(c, g, s=s):
            with torch.no_grad():
                return s(torch.randn((len(c), *s.noise_shape), generator=g), c)
        chains = 2 if ck.get("teacher_kind") == "vq_diffusion" else 1  # the VQ cascade: an LF and an HF step
        out[student_name(ck)] = (run, chains * int(ck["steps"]))
    return out


def synthetic_windows(folder, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The windows of a folder of CSV recordings (``imuedge generate``), read through the data layer, with
    their class ids in ``names``' order."""
    from imuedge.data import load_recordings, make_windows

    ds, errors = load_recordings(folder)
    if errors:
        raise ValueError(f"{folder}: {len(errors)} recording(s) did not load: {errors[0]}")
    ws = make_windows(ds, 128, 128)
    y = np.array([names.index(ws.label_names[int(k)]) for k in ws.y], np.int64)
    return ws.x.astype(np.float32), y


def evaluate(teacher_path, students, out, per_class: int = 50, guidance: float = 1.5, ddpm_windows: int = 0,
             batch: int = 64, seed: int = 0, latent_path=None, ddim=(50, 10, 4), synthetic=(), vq_path=None) -> dict:
    from imuedge.data import load_hapt_windows

    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    splits = load_hapt_windows(window=128, hop=64, seed=0)
    train, test = splits["train"], splits["test"]
    k = len(train.label_names)
    names = [train.label_names[i] for i in range(k)]
    g = np.random.default_rng(seed)
    idx = np.concatenate([g.choice(np.flatnonzero(train.y == c), per_class, replace=False) for c in range(k)])
    results = {"data": "UCI HAPT, split seed 0, six basic activities; test = real test subjects",
               "per_class": per_class, "guidance": guidance, "machine": f"{describe()}, 1 torch thread",
               "classes": names, "samplers": {}}
    trtr = cnn_f1(train.x[idx], train.y[idx], test.x, test.y, k, seed)
    results["TRTR_macro_f1"] = trtr
    from imuedge.train.fewshot import embed
    from imuedge.train.models import SHIPPED, load_encoder

    enc = load_encoder(SHIPPED["IMG2IMU (sensor-aware aug), shipped"])
    enc.spectrogram.fit_normalization(train.x)
    real_emb = embed(enc, test.x)
    results["FD_real_train_vs_test"] = frechet(embed(enc, train.x[idx]), real_emb)
    if latent_path:
        from imuedge.train.diffusion.latent_train import load_latent

        results["latent_vae_test_rmse"] = reconstruction_rmse(load_latent(latent_path)[0].vae, test.x)
    if vq_path:
        from imuedge.train.diffusion.vq_train import load_vq

        results["vq_vqvae_test_rmse"] = reconstruction_rmse(load_vq(vq_path)[0].vqvae, test.x)
    synth_examples = {}
    for folder in synthetic:  # already written: no timing, only the quality of what the files hold
        xs, ys = synthetic_windows(folder, names)
        row = {"windows": int(len(xs)), "source": f"CSV recordings in {folder}, read by load_recordings",
               "TSTR_macro_f1": cnn_f1(xs, ys, test.x, test.y, k, seed),
               "discriminative_score": discriminative_score(train.x[idx], xs, seed),
               "frechet_distance": frechet(embed(enc, xs), real_emb) if len(xs) > 64 else None}
        row["TSTR_over_TRTR"] = row["TSTR_macro_f1"] / trtr
        row["motion_vs_real"] = motion_vs_real(train.x, train.y, xs, ys, names)
        results["samplers"][f"CSV {Path(folder).name}"] = row
        print(f"[evaluate] CSV {folder}: {json.dumps(row)}", flush=True)
    for name, (fn, nfe) in samplers(teacher_path, students, ddpm_windows > 0, guidance, latent_path, ddim,
                                    vq_path).items():
        n_pc = ddpm_windows if name.startswith("teacher DDPM") else per_class
        c = torch.arange(k).repeat_interleave(n_pc)
        gen = torch.Generator().manual_seed(seed)
        t0 = time.perf_counter()
        xs = torch.cat([fn(c[i:i + batch], gen) for i in range(0, len(c), batch)]).numpy()
        seconds = time.perf_counter() - t0
        ys = c.numpy()
        row = {"windows": int(len(xs)), "network_evaluations_per_window": nfe,
               "samples_per_second_1_thread": round(len(xs) / seconds, 3),
               "TSTR_macro_f1": cnn_f1(xs, ys, test.x, test.y, k, seed),
               "discriminative_score": discriminative_score(train.x[idx], xs, seed),
               "frechet_distance": frechet(embed(enc, xs), real_emb) if len(xs) > 64 else None}
        row["TSTR_over_TRTR"] = row["TSTR_macro_f1"] / trtr
        row["motion_vs_real"] = motion_vs_real(train.x, train.y, xs, ys, names)
        results["samplers"][name] = row
        synth_examples[name] = (xs, ys)
        print(f"[evaluate] {name}: {json.dumps(row)}", flush=True)
    plot(out / "real_vs_synthetic.png", train.x[idx], train.y[idx], synth_examples, names)
    atomic_write(out / "results.json", lambda f: f.write(json.dumps(results, indent=2) + "\n"))
    atomic_write(out / "report.md", lambda f: f.write(markdown(results)))
    return results


def reconstruction_rmse(space, x: np.ndarray) -> dict:
    """RMSE of ``space.decode(space.encode(x))`` on windows x (N, 6, T), accelerometer and gyroscope apart."""
    with torch.no_grad():
        back = torch.cat([space.decode(space.encode(torch.from_numpy(x[i:i + 512])))
                          for i in range(0, len(x), 512)]).numpy()
    err = (back - x) ** 2
    return {"acc_m_s2": float(np.sqrt(err[:, :3].mean())), "gyro_rad_s": float(np.sqrt(err[:, 3:].mean()))}


def plot(path, real_x, real_y, synth: dict, names):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["real", *synth]
    fig, ax = plt.subplots(len(names), len(cols), figsize=(3 * len(cols), 1.6 * len(names)), sharey="row",
                           squeeze=False)
    t = np.arange(real_x.shape[-1]) / 50.0
    for r, name in enumerate(names):
        for c, col in enumerate(cols):
            x, y = (real_x, real_y) if col == "real" else synth[col]
            w = x[np.flatnonzero(y == r)[0]]
            for ch in range(3):
                ax[r, c].plot(t, w[ch], lw=0.7)
            if r == 0:
                ax[r, c].set_title(col, fontsize=8)
            if c == 0:
                ax[r, c].set_ylabel(name, fontsize=7)
    fig.suptitle("accelerometer x/y/z (m/s^2), one window per class", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def markdown(r: dict) -> str:
    lines = [f"# Generator evaluation (HAPT, {r['per_class']} windows per class, guidance {r['guidance']})", "",
             f"Machine: {r['machine']}. TRTR macro-F1 (1D CNN on {r['per_class']} real training windows per class): "
             f"{r['TRTR_macro_f1']:.3f}. Frechet distance real train vs real test (shipped IMG2IMU embedding): "
             f"{r['FD_real_train_vs_test']:.2f}.", "",
             "| sampler | NFE/window | samples/s (1 thread) | TSTR macro-F1 | TSTR/TRTR | discriminative | Frechet |",
             "|---|---|---|---|---|---|---|"]
    if "latent_vae_test_rmse" in r:
        e = r["latent_vae_test_rmse"]
        lines[2] += (f" Latent model's VAE, reconstruction RMSE on the real test windows: {e['acc_m_s2']:.3f} m/s^2, "
                     f"{e['gyro_rad_s']:.3f} rad/s.")
    if "vq_vqvae_test_rmse" in r:
        e = r["vq_vqvae_test_rmse"]
        lines[2] += (f" VQ model's two-band VQ-VAE, reconstruction RMSE on the real test windows: "
                     f"{e['acc_m_s2']:.3f} m/s^2, {e['gyro_rad_s']:.3f} rad/s.")
    for name, s in r["samplers"].items():
        fd = f"{s['frechet_distance']:.2f}" if s["frechet_distance"] is not None else "-"
        nfe, sps = s.get("network_evaluations_per_window", "-"), s.get("samples_per_second_1_thread")
        sps = f"{sps:.2f}" if sps is not None else "- (read from CSV)"
        lines.append(f"| {name} | {nfe} | {sps} | "
                     f"{s['TSTR_macro_f1']:.3f} | {s['TSTR_over_TRTR']:.2f} | {s['discriminative_score']:.3f} | {fd} |")
    lines += ["", *motion_markdown(r)]
    return "\n".join(lines) + "\n\n![real vs synthetic](real_vs_synthetic.png)\n"


def motion_markdown(r: dict) -> list[str]:
    """The ``motion_vs_real`` table: one row per sampler, one column per class, "acc / gyro"."""
    rows = {name: s["motion_vs_real"] for name, s in r["samplers"].items() if s.get("motion_vs_real")}
    if not rows:
        return []
    classes = list(r.get("classes") or next(iter(rows.values())))
    return ["How much the synthetic windows move: median window standard deviation about its own mean, "
            "synthetic over real (training windows of the class), accelerometer / gyroscope; 1 is the same.", "",
            "| sampler | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes),
            *(f"| {name} | " + " | ".join(f"{m[c]['acc']:.2f} / {m[c]['gyro']:.2f}" if c in m else "-"
                                         for c in classes) + " |" for name, m in rows.items())]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m imuedge.train.diffusion.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", default="", help="teacher checkpoint (optional with --latent or --vq)")
    p.add_argument("--latent", default="", help="latent diffusion checkpoint (imuedge diffusion latent)")
    p.add_argument("--vq", default="", help="VQ diffusion checkpoint (imuedge diffusion vqprior)")
    p.add_argument("--students", default="", help="comma-separated student checkpoints")
    p.add_argument("--out", required=True)
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--guidance", type=float, default=1.5)
    p.add_argument("--ddpm-windows", type=int, default=0, help="windows per class for the full DDPM chain (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ddim", default="50,10,4", help="teacher DDIM step counts (comma-separated; '' for none)")
    p.add_argument("--synthetic", action="append", default=[],
                   help="a folder of synthetic CSV recordings (imuedge generate) to score too; repeatable")
    a = p.parse_args(argv)
    if not a.teacher and not a.latent and not a.vq:
        p.error("give --teacher, --latent, --vq or several")
    ddim = tuple(int(n) for n in a.ddim.split(",") if n.strip())
    evaluate(a.teacher, [s for s in a.students.split(",") if s], a.out, a.per_class, a.guidance, a.ddpm_windows,
             seed=a.seed, latent_path=a.latent or None, ddim=ddim, synthetic=a.synthetic, vq_path=a.vq or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
