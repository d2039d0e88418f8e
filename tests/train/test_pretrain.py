"""Pretraining mechanics: checkpoints round-trip, resume continues, DDP ranks agree."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from imuedge import checkpoint
from imuedge.train.models import load_encoder
from imuedge.train.augment import Hue, Jitter, SensorAware, TranslateX
from imuedge.train.images import ProceduralImages
from imuedge.window import CHANNELS
from imuedge.data import Dataset, Recording, unlabelled_windows
from imuedge.spectrogram import SpectrogramConfig
from imuedge.train.image_sources import (IMUSpectrogramImages, PrefetchedImages, RandomIndices, neighbour_ranges,
                                         save_imu_windows)
from imuedge.train.distributed import resolve_device
from imuedge.train.pretrain import PretrainConfig, build_augment, lr_at, pretrain, train


def tiny(out, steps):
    cfg = PretrainConfig(steps=steps, batch_size=8, out=str(out), checkpoint_every=2, threads=1, warmup_steps=1)
    cfg.moco.queue_size = 32
    return cfg


@pytest.mark.parametrize("workers", [0, 1])
def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path, workers):
    """4 steps in one go equal 2 steps, an "interruption", then the same command resuming to 4:
    every weight, BatchNorm statistic and queued key bit for bit (the random state is in last.pt;
    with worker processes the sampler skips what the first run drew)."""
    def cfg(out, steps):
        c = tiny(out, steps)
        c.workers = workers
        return c

    straight, _ = train(cfg(tmp_path / "a", 4), quiet=True)
    train(cfg(tmp_path / "b", 2), quiet=True)
    assert checkpoint.load(tmp_path / "b" / "last.pt")["train_state"]["step"] == 2
    resumed, enc_path = train(cfg(tmp_path / "b", 4), quiet=True)
    assert checkpoint.load(tmp_path / "b" / "last.pt")["train_state"]["step"] == 4
    a, b = straight.state_dict(), resumed.state_dict()
    assert set(a) == set(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The encoder checkpoint loads with weights_only and rebuilds a working encoder.
    enc = load_encoder(enc_path)
    emb = enc(torch.randn(2, 6, 128))
    assert emb.shape[0] == 2 and torch.isfinite(emb).all()
    sd = resumed.encoder_state_dict()
    for k, v in enc.backbone.state_dict().items():
        assert torch.equal(v, sd[k]), k


def test_resume_does_not_restart(tmp_path):
    train(tiny(tmp_path, 2), quiet=True)
    before = checkpoint.load(tmp_path / "last.pt")
    train(tiny(tmp_path, 2), quiet=True)  # already done: nothing to do, weights unchanged
    after = checkpoint.load(tmp_path / "last.pt")
    for k in before["state_dict"]:
        assert torch.equal(before["state_dict"][k], after["state_dict"][k]), k


def test_truncated_checkpoint_is_refused_with_its_path(tmp_path):
    path = pretrain(tiny(tmp_path, 1), quiet=True)
    data = path.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="truncated.pt"):
        checkpoint.load(bad)


def test_learning_rate_warms_up_then_decays():
    cfg = PretrainConfig(steps=100, lr=0.1, warmup_steps=10)
    assert lr_at(0, cfg) < lr_at(9, cfg) == pytest.approx(0.1)
    assert lr_at(99, cfg) < 0.01


def test_worker_processes_draw_exactly_the_images_of_their_sampler():
    images = ProceduralImages(size=(24, 32), seed=3, length=1000)
    stream = PrefetchedImages(images, batch_size=4, workers=1, seed=11)
    indices = iter(RandomIndices(len(images), seed=11))
    for _ in range(2):  # consecutive batches continue the sampler's sequence
        expected = images.batch([next(indices) for _ in range(4)])
        assert torch.equal(stream.sample(4, torch.Generator()), expected)
    with pytest.raises(ValueError, match="hold 4 images, 8 asked"):
        stream.sample(8, torch.Generator())


def test_pretraining_with_worker_processes_runs(tmp_path):
    cfg = tiny(tmp_path, 2)
    cfg.workers = 1
    enc = load_encoder(pretrain(cfg, quiet=True))
    assert torch.isfinite(enc(torch.randn(1, 6, 128))).all()


def long_recordings(tmp_path, seconds=(20, 12)):
    """Unlabelled windows (128 samples every 16) of recordings whose every sample holds its own time,
    so a window's content tells where it came from; saved as an --imu-windows file."""
    recs = []
    for i, sec in enumerate(seconds):
        t = np.arange(sec * 50, dtype=np.float32) / 50 + 1000 * i  # recording i: 1000 * i + time in s
        recs.append(Recording(np.tile(t, (6, 1)), np.full(t.size, -1), CHANNELS, 50.0, i + 1, f"rec{i}"))
    ws = unlabelled_windows(Dataset(recs), 128, 16)
    path = tmp_path / "windows.npz"
    save_imu_windows(path, ws)
    return ws, path


def test_neighbour_ranges_stay_inside_one_recording_and_reach():
    rec = np.array(["b", "a", "b", "a", "a", "b"])  # not sorted: ranges are computed on a sorted order
    start = np.array([100, 0, 0, 300, 50, 400])
    order, low, high = neighbour_ranges(rec, start, 50.0, seconds=2.0)  # reach: 100 samples
    near = {i: sorted(int(order[p]) for p in range(low[i], high[i])) for i in range(len(rec))}
    assert near == {0: [0, 2], 1: [1, 4], 2: [0, 2], 3: [3], 4: [1, 4], 5: [5]}
    with pytest.raises(ValueError, match="must be >= 0"):
        neighbour_ranges(rec, start, 50.0, seconds=-1)


def test_neighbour_positives_come_from_the_same_recording_within_reach(tmp_path):
    ws, path = long_recordings(tmp_path)
    source = IMUSpectrogramImages(str(path), SpectrogramConfig(), positives="neighbour", neighbour_s=2.0)
    acc = source.images(torch.arange(len(ws)), 2 * len(ws))[::2]  # every window's accelerometer image
    seen_offsets = set()
    for seed in range(20):
        index = torch.randint(len(ws), (4,), generator=torch.Generator().manual_seed(seed))
        images, keys, _ = source.sample(8, torch.Generator().manual_seed(seed))
        assert images.shape == keys.shape == (8, 3, 96, 128)
        assert torch.equal(images, source.images(index, 8))  # the query windows are the drawn ones
        for i, key in zip(index.tolist(), keys[::2]):  # the acc image of each key window ...
            distance = (acc - key).abs().flatten(1).amax(1)
            j = int(distance.argmin())  # ... is one window's (others differ by far more): same recording, <= 2 s
            assert distance[j] < 1e-4 < distance.topk(2, largest=False).values[1]
            assert ws.recording[j] == ws.recording[i] and abs(ws.start[j] - ws.start[i]) <= 100
            seen_offsets.add(int(ws.start[j] - ws.start[i]))
    assert len(seen_offsets) > 5  # and they are spread over the reach, not always the window itself


def test_neighbour_positives_need_to_know_where_windows_lie(tmp_path):
    bare = tmp_path / "bare.npz"
    np.savez(bare, x=np.zeros((3, 6, 128), np.float32), channels=np.array(CHANNELS))
    IMUSpectrogramImages(str(bare), SpectrogramConfig())  # 'augment' needs no more
    with pytest.raises(ValueError, match=r"bare.npz: --imu-positives neighbour needs .*'recording'"):
        IMUSpectrogramImages(str(bare), SpectrogramConfig(), positives="neighbour")
    with pytest.raises(ValueError, match=r"bare.npz: --recordings-per-batch, --far-negatives needs"):
        IMUSpectrogramImages(str(bare), SpectrogramConfig(), recordings_per_batch=2, needs_where=True)


def test_grouped_batches_come_from_that_many_recordings_and_say_where_each_window_lies(tmp_path):
    ws, path = long_recordings(tmp_path)
    source = IMUSpectrogramImages(str(path), SpectrogramConfig(), positives="neighbour", recordings_per_batch=2)
    acc = source.images(torch.arange(len(ws)), 2 * len(ws))[::2]
    for seed in range(5):
        images, _, where = source.sample(12, torch.Generator().manual_seed(seed))  # 6 windows, 3 per recording
        assert where.shape == (12, 2) and torch.equal(where[0::2], where[1::2])  # acc and gyro image of a window
        assert len(set(where[:, 0].tolist())) <= 2
        for image, (rec, start_s) in zip(images[::2], where[::2].tolist()):
            j = int((acc - image).abs().flatten(1).amax(1).argmin())  # which window this image is
            assert ws.recording[j] == sorted(set(ws.recording))[int(rec)] and ws.start[j] / 50.0 == pytest.approx(start_s)


def test_pretraining_with_neighbour_positives_runs(tmp_path):
    _, path = long_recordings(tmp_path)
    cfg = tiny(tmp_path / "run", 2)
    cfg.sources, cfg.imu_windows, cfg.imu_positives = "procedural+imu", str(path), "neighbour"
    made = pretrain(cfg, quiet=True)
    enc = load_encoder(made)
    assert torch.isfinite(enc(torch.randn(1, 6, 128))).all()
    # the encoder records the windows it learnt from, so `imuedge train` can resample a user's data to them
    w = checkpoint.load(made)["window"]
    assert (w["sample_rate_hz"], w["window"], w["channels"]) == (50.0, 128, list(CHANNELS))


def test_an_encoder_records_its_windows_only_when_their_rate_is_known(tmp_path):
    from imuedge.train.pretrain import record_window

    bare = tmp_path / "bare.npz"  # no sample_rate_hz: nothing to record
    np.savez(bare, x=np.random.default_rng(0).normal(size=(16, 6, 128)).astype(np.float32), channels=np.array(CHANNELS))
    cfg = tiny(tmp_path / "bare", 1)
    cfg.sources, cfg.imu_windows = "imu", str(bare)
    made = pretrain(cfg, quiet=True)
    assert "window" not in checkpoint.load(made)
    with pytest.raises(ValueError, match="bare.npz: no 'sample_rate_hz' in it"):
        record_window(made, str(bare))
    assert record_window(made)["sample_rate_hz"] == 50.0  # hapt-train's windows are HAPT's 50 Hz
    assert checkpoint.load(made)["window"]["window"] == 128
    cfg = tiny(tmp_path / "procedural", 1)  # images only: no rate
    assert "window" not in checkpoint.load(pretrain(cfg, quiet=True))


def test_pretraining_with_grouped_batches_and_far_negatives_runs_and_resumes(tmp_path):
    _, path = long_recordings(tmp_path)
    cfg = tiny(tmp_path / "run", 2)
    cfg.sources, cfg.imu_windows, cfg.imu_positives = "imu+procedural", str(path), "neighbour"
    cfg.recordings_per_batch, cfg.moco.far_negatives_s = 2, 10.0
    train(cfg, quiet=True)
    cfg.steps = 3  # resumes: the queue's recordings come back with it
    moco, path = train(cfg, quiet=True)
    recording = moco.queue_where[:, 0]  # 32 slots: imu keys (step 0), procedural (1), imu (2), never filled
    assert ((recording >= 0).sum(), (recording == -1).sum(), recording.isinf().sum()) == (16, 8, 8)
    assert torch.isfinite(load_encoder(path)(torch.randn(1, 6, 128))).all()


def test_sensor_ops_choose_the_sensor_aware_set():
    aug = build_augment(PretrainConfig(sensor_ops="translatex, hue,jitter"))
    assert isinstance(aug, SensorAware) and [type(op) for op in aug.ops] == [TranslateX, Hue, Jitter]
    assert len(build_augment(PretrainConfig()).ops) == 4  # the paper's four by default
    with pytest.raises(ValueError, match="unknown sensor-aware op.*'rotate'"):
        build_augment(PretrainConfig(sensor_ops="translatex,rotate"))


def test_devices_resolve_and_a_missing_gpu_is_refused():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            resolve_device("cuda")


@pytest.mark.ddp
def test_two_torchrun_ranks_hold_identical_weights(tmp_path):
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    str(worker), str(tmp_path)], check=True, env=env, timeout=180)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    bn_stats = ("running_mean", "running_var", "num_batches_tracked")
    compared = 0
    for k in r0:
        if k.endswith(bn_stats):  # per-rank batch statistics of the last forward pass
            continue
        assert torch.equal(r0[k], r1[k]), f"ranks differ in {k}"
        compared += 1
    assert compared > 20
    # and training really happened: the weights moved away from the initialisation
    torch.manual_seed(0)
    from imuedge.train.pretrain import build_moco
    init = build_moco(PretrainConfig()).state_dict()
    assert any(not torch.equal(init[k], r0[k]) for k in r0 if k in init and init[k].shape == r0[k].shape
               and k.endswith("weight"))
