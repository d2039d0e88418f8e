"""`imuedge diffusion {train,distill,vae,latent,vqvae,vqprior,export}` and `imuedge generate`."""
from __future__ import annotations

import argparse

from imuedge.train.cli import DefaultsFormatter


def register(sub: argparse._SubParsersAction) -> None:
    from imuedge.train.diffusion import distill, latent_train, train, vq_train

    p = sub.add_parser("diffusion", help="diffusion generators (STFT-domain; latent; VQ): train, distil, export",
                       description="Class-conditional diffusion generator for IMU windows (train/diffusion/).")
    dsub = p.add_subparsers(dest="diffusion_command", metavar="JOB", required=True)
    t = dsub.add_parser("train", help="train the teacher (resumable; --device; DDP under torchrun)",
                        description=train.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_arguments(t)
    t.set_defaults(func=_train)
    d = dsub.add_parser("distill", help="progressive distillation into 4-, 2- and 1-step students",
                        description=distill.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    distill.add_arguments(d)
    d.set_defaults(func=_distill)
    for name, helptext, add, func in (
            ("vae", "latent generator, stage 1: the window VAE (resumable)", latent_train.add_vae_arguments, _vae),
            ("latent", "latent generator, stage 2: class-conditional diffusion in the VAE's latent (resumable)",
             latent_train.add_latent_arguments, _latent),
            ("vqvae", "VQ generator, stage 1: a VQ-VAE per frequency band (resumable)",
             vq_train.add_vqvae_arguments, _vqvae),
            ("vqprior", "VQ generator, stage 2: LF and HF (given LF) diffusion priors on its tokens (resumable)",
             vq_train.add_vqprior_arguments, _vqprior)):
        doc = vq_train.__doc__ if name.startswith("vq") else latent_train.__doc__
        s = dsub.add_parser(name, help=helptext, description=doc,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        add(s)
        s.set_defaults(func=func)
    e = dsub.add_parser("export", help="a generator as .onnx / .tflite / .pte generator bundles, with parity")
    e.add_argument("--student", "--generator", dest="student", required=True,
                   help="student (student_4.pt, ...), latent (latent.pt), VQ (vq.pt) or teacher (teacher.pt) "
                        "checkpoint")
    e.add_argument("--steps", type=int, default=None,
                   help="latent.pt / vq.pt / teacher.pt: DDIM steps unrolled (default 10)")
    e.add_argument("--guidance", type=float, default=None,
                   help="latent.pt / vq.pt / teacher.pt: guidance weight in the graph (default 1.5)")
    e.add_argument("--out", required=True, help="bundle folder (one sub-folder per format)")
    e.add_argument("--formats", default="onnx,tflite,pte", help="comma-separated formats")
    e.add_argument("--precisions", default="fp32", help="fp32, int8 or fp32,int8 (int8: quality reported as TSTR)")
    e.add_argument("--tstr-per-class", type=int, default=50, help="int8 quality check: synthetic windows per class")
    e.set_defaults(func=_export)

    g = sub.add_parser("generate", help="synthetic windows as CSV recordings the data layer loads",
                       description="Write synthetic windows of a generator (a generator bundle folder or a student "
                                   "checkpoint) as CSV recordings: one file per window, label = class, subject = "
                                   "100000 + seed (marks them synthetic).",
                       formatter_class=DefaultsFormatter)
    g.add_argument("generator", help="generator bundle folder or student checkpoint (.pt)")
    g.add_argument("--class", dest="classes", default="all", help="comma-separated class names, or all")
    g.add_argument("--n", type=int, default=10, help="windows per class")
    g.add_argument("--seed", type=int, default=0, help="noise seed (also sets the subject id)")
    g.add_argument("--out", required=True, help="folder for the CSV files")
    g.add_argument("--threads", type=int, default=1, help="runtime threads")
    g.set_defaults(func=_generate)


def _train(a) -> int:
    from imuedge.train.diffusion.train import config_from_args, train

    train(config_from_args(a))
    return 0


def _distill(a) -> int:
    from imuedge.train.diffusion.distill import config_from_args, distill

    distill(config_from_args(a))
    return 0


def _vae(a) -> int:
    from imuedge.train.diffusion.latent_train import train_vae, vae_config_from_args

    train_vae(vae_config_from_args(a))
    return 0


def _latent(a) -> int:
    from imuedge.train.diffusion.latent_train import latent_config_from_args, train_latent

    train_latent(latent_config_from_args(a))
    return 0


def _vqvae(a) -> int:
    from imuedge.train.diffusion.vq_train import train_vqvae, vqvae_config_from_args

    train_vqvae(vqvae_config_from_args(a))
    return 0


def _vqprior(a) -> int:
    from imuedge.train.diffusion.vq_train import train_vqprior, vqprior_config_from_args

    train_vqprior(vqprior_config_from_args(a))
    return 0


def _export(a) -> int:
    from imuedge.train.diffusion.export import export_student

    formats = tuple(f.strip() for f in a.formats.split(",") if f.strip())
    bad = [f for f in formats if f not in ("onnx", "tflite", "pte", "torch")]
    if bad or not formats:
        raise ValueError(f"unknown format {bad[0] if bad else '(none)'!r}; use onnx, tflite, pte")
    if a.steps is not None and a.steps <= 0:
        raise ValueError(f"--steps must be positive, got {a.steps}")
    precisions = tuple(x.strip() for x in a.precisions.split(",") if x.strip())
    bad = [x for x in precisions if x not in ("fp32", "int8")]
    if bad or not precisions:
        raise ValueError(f"unknown precision {bad[0] if bad else '(none)'!r}; use fp32, int8")
    if a.tstr_per_class < 2:
        raise ValueError(f"--tstr-per-class must be at least 2, got {a.tstr_per_class}")
    return 0 if export_student(a.student, a.out, formats, steps=a.steps, guidance=a.guidance, precisions=precisions,
                               tstr_per_class=a.tstr_per_class)["ok"] else 1


def _generate(a) -> int:
    from imuedge.train.diffusion.generate import generate

    files = generate(a.generator, a.classes, a.n, a.out, a.seed, a.threads)
    print(f"[imuedge generate] {len(files)} synthetic recordings -> {a.out}")
    return 0
