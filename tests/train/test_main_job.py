"""The main job (`imuedge run`) end to end on a small slice of HAPT: every file of the report appears,
every method is in the table, and both default classifiers load and classify real windows."""
import json
from dataclasses import replace

import numpy as np
import pytest

from imuedge.train.models import load_model
from imuedge.train.main_job import RunConfig, main_job_pretraining, recipe_note, run
from imuedge.train.pretrain import PretrainConfig
from imuedge.train.fewshot import SupervisedConfig


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = RunConfig(out=str(out), shots=(1, 10), seeds=2, pretrain=replace(main_job_pretraining(), steps=3),
                    max_windows=300, use_shipped=True,
                    supervised=SupervisedConfig(epochs=1, batch_size=32, min_steps=4), finetune_epochs=1, threads=2,
                    mae_finetune=SupervisedConfig(epochs=1, batch_size=32, min_steps=4, warmup_steps=2, layer_decay=0.75))
    run(cfg, quiet=True)
    return out


def test_report_files_and_methods(report):
    for name in ("report.md", "results.json", "fewshot.png", "confusion.png", "classifier.pt", "classifier_probe10.pt"):
        assert (report / name).stat().st_size > 0, name
    r = json.loads((report / "results.json").read_text())
    base = {"IMG2IMU (sensor-aware aug)", "IMG2IMU (MoCo v2 aug)", "Random init 2D", "Supervised 2D", "1D CNN",
            "IMG2IMU (sensor-aware aug), shipped", "MAE (raw IMU), shipped", "MAE (raw IMU), shipped, fine-tuned"}
    tuned = set(r["methods"]) - base
    assert base <= set(r["methods"]) and len(tuned) == 1  # + the default classifier, fine-tuned
    assert tuned.pop() == r["default_classifier"]["encoder"] + ", fine-tuned"
    assert r["default_classifier"]["encoder"].startswith("IMG2IMU")  # the MAE's int8 .onnx fails the exporter
    mae = r["methods"]["MAE (raw IMU), shipped"]
    assert mae["pretraining"].startswith("MAE") and mae["pretraining"].endswith(", shipped")
    assert len(mae["shots"]["10"]) == 2 and len(r["methods"]["MAE (raw IMU), shipped, fine-tuned"]["full"]) == 2
    assert all(len(v) == 2 for v in r["methods"]["Random init 2D"]["shots"].values())  # one score per seed
    assert set(r["split"]["train"]).isdisjoint(r["split"]["test"])
    assert set(r["stages_s"]) >= {"data", "pretrain sensor", "pretrain mocov2", "linear probes", "default classifier"}
    md = (report / "report.md").read_text()
    assert "vs Random init 2D at 10 shots" in md and "Default classifier (classifier.pt)" in md
    assert "MAE (raw IMU), shipped, linear probe vs 1D CNN from scratch at 10 shots" in md
    assert "MAE (raw IMU), shipped vs Random init 2D at 1 shot" in md


def test_default_classifiers_classify_real_windows(report):
    from imuedge.data import load_hapt_windows

    x = load_hapt_windows(window=128, hop=64, seed=0)["test"].x[:8]
    r = json.loads((report / "results.json").read_text())
    for name in ("classifier.pt", "classifier_probe10.pt"):
        model, ckpt = load_model(report / name)
        assert ckpt["window"]["channels"] == list(r["window"]["channels"])
        logits = model(__import__("torch").from_numpy(x)).detach().numpy()
        assert logits.shape == (8, len(r["class_names"])) and np.isfinite(logits).all()


def test_the_pretraining_column_names_how_pairs_were_made():
    cfg = PretrainConfig(sources="procedural", imu_positives="neighbour", neighbour_seconds=5.0)
    assert recipe_note(cfg) == ""  # no imu source and the default augmentations: nothing to say
    cfg.sources = "procedural+imu"
    assert recipe_note(cfg) == "; imu positives: neighbours <= 5 s"
    cfg.sources, cfg.recordings_per_batch, cfg.moco.far_negatives_s = "imu", 8, 30.0
    assert recipe_note(cfg) == (
        "; imu positives: neighbours <= 5 s; 8 recordings per batch; same-recording negatives only >= 30 s away")
    cfg.sensor_ops = "translatex,permutex,jitter"
    assert recipe_note(cfg).endswith("away; augmentations translatex,permutex,jitter")
    cfg.moco.bn_splits = 8
    assert recipe_note(cfg).endswith("away; shuffled BN (8 chunks); augmentations translatex,permutex,jitter")


def test_imuedge_run_flags_describe_the_run_config():
    from dataclasses import asdict

    from imuedge.cli import build_parser
    from imuedge.train.cli import run_config_from_args

    assert asdict(run_config_from_args(build_parser().parse_args(["run"]))) == asdict(RunConfig())  # no flag: defaults
    cfg = run_config_from_args(build_parser().parse_args(
        ["run", "--pretrain-steps", "7", "--sources", "procedural+imu", "--recordings-per-batch", "0",
         "--far-negatives", "0", "--bn-splits", "1", "--sensor-ops", "hue", "--supervised-epochs", "3"]))
    pre = cfg.pretrain
    assert (pre.steps, pre.sources, pre.recordings_per_batch, pre.sensor_ops) == (7, "procedural+imu", 0, "hue")
    assert (pre.moco.far_negatives_s, pre.moco.bn_splits, cfg.supervised.epochs) == (0.0, 1, 3)
    assert RunConfig().pretrain.steps == main_job_pretraining().steps == 500  # a flag changed this run only


def test_margins_give_the_mean_difference_and_the_spread_of_per_seed_differences():
    from imuedge.train.main_job import margins

    assert margins([0.8, 0.9], [0.7, 0.95]) == "+0.025 macro-F1 (per seed +0.025 ± 0.075, from -0.050 to +0.100)"
