"""`imuedge run` (the main job), `imuedge pretrain`, and `imuedge train` / `imuedge eval` (fewshot_cli.py)."""
from __future__ import annotations

import argparse

HELP_RUN = """The main job on the built-in default: load the real UCI HAPT recordings, split them
by subject (6:2:2), pretrain IMG2IMU encoders with MoCo v2 (a short schedule, sensor-aware
and standard augmentations), evaluate few-shot linear probes against baselines (random-init
2D, supervised 2D, 1D CNN), and write a report folder (report.md, results.json, PNGs)."""


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" only where X says something: a None default means the help text itself
    names the default (it depends on another flag, e.g. `--method`)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def register(sub: argparse._SubParsersAction) -> None:
    from imuedge.train.main_job import RunConfig
    from imuedge.train.pretrain import add_arguments, add_recipe_arguments

    d = RunConfig()
    p = sub.add_parser("run", help="the main job: HAPT -> IMG2IMU pretraining -> few-shot report",
                       description=HELP_RUN, formatter_class=DefaultsFormatter)
    p.add_argument("--out", default=d.out, help="report folder")
    p.add_argument("--shots", default=",".join(map(str, d.shots)),
                   help="comma-separated labelled windows per class")
    p.add_argument("--seeds", type=int, default=d.seeds, help="few-shot seeds (mean ± std over them)")
    pre = d.pretrain
    p.add_argument("--pretrain-steps", type=int, default=pre.steps,
                   help="MoCo steps of the short pretraining run done here (0 skips it)")
    p.add_argument("--sources", default=pre.sources,
                   help="pretraining image sources, '+'-joined: procedural, imu (unlabelled windows of the "
                        "training subjects' whole recordings)")
    add_recipe_arguments(p, pre)
    p.add_argument("--backbone", default=d.backbone, choices=["edge", "resnet18"], help="vision backbone")
    p.add_argument("--no-shipped", action="store_true",
                   help="do not evaluate the shipped pretrained encoder (train/weights/, see its README)")
    p.add_argument("--supervised-epochs", type=int, default=d.supervised.epochs,
                   help="epochs of the supervised 2D baseline")
    p.add_argument("--finetune-epochs", type=int, default=d.finetune_epochs,
                   help="epochs of end-to-end fine-tuning (all training labels) of the default classifier, "
                        "classifier.pt, from the best pretrained encoder")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--max-windows", type=int, default=0,
                   help="cap on windows per split, for a quick smoke run (0: all)")
    p.set_defaults(func=_run)

    p = sub.add_parser("pretrain", help="pretrain an encoder: IMG2IMU (MoCo v2) or MAE (--method mae); "
                                        "resumable, DDP-ready",
                       description="MoCo v2 pretraining of an IMG2IMU encoder on images, or (--method mae) a masked "
                                   "autoencoder on unlabelled raw IMU windows. Runs on one CPU, or unchanged under "
                                   "`torchrun --nproc_per_node=N -m imuedge.train.pretrain`. "
                                   "Re-running with the same --out resumes from OUT/last.pt.",
                       formatter_class=DefaultsFormatter)
    add_arguments(p)
    p.set_defaults(func=_pretrain)

    from imuedge.train.fewshot_cli import register as register_fewshot

    register_fewshot(sub)  # train, eval


def run_config_from_args(a: argparse.Namespace):
    """The ``RunConfig`` that `imuedge run` flags describe (no flag: the dataclass defaults)."""
    from imuedge.train.main_job import RunConfig
    from imuedge.train.pretrain import apply_recipe_arguments

    cfg = RunConfig(out=a.out, shots=tuple(int(s) for s in a.shots.split(",") if s), seeds=a.seeds,
                    backbone=a.backbone, use_shipped=not a.no_shipped, finetune_epochs=a.finetune_epochs,
                    threads=a.threads, max_windows=a.max_windows)
    cfg.supervised.epochs = a.supervised_epochs
    cfg.pretrain.steps, cfg.pretrain.sources = a.pretrain_steps, a.sources
    apply_recipe_arguments(cfg.pretrain, a)
    return cfg


def _run(a) -> int:
    from imuedge.train.main_job import run

    run(run_config_from_args(a))
    return 0


def _pretrain(a) -> int:
    from imuedge.train.pretrain import run_method

    print(f"[pretrain] encoder checkpoint: {run_method(a)}")
    return 0
