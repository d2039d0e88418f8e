"""`imuedge pretrain --method mae`: resume, the encoder checkpoint, and the encoder used like any other."""
import json

import numpy as np
import pytest
import torch

from imuedge import checkpoint
from imuedge.data import Recording, write_recording_csv
from imuedge.train.mae import MAEConfig, MAEEncoder
from imuedge.train.mae_pretrain import MAEPretrainConfig, augment, load_windows, train
from imuedge.train.models import load_encoder, load_model
from imuedge.window import CHANNELS

SMALL = dict(window=64, patch=4, dim=32, depth=1, heads=2, decoder_dim=16, decoder_depth=1, decoder_heads=2)


def windows_file(path, n=64, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, 6, 64)).astype(np.float32)
    np.savez(path, x=x, channels=np.array(CHANNELS), sample_rate_hz=np.float64(50.0))
    return str(path)


def tiny(out, steps, data, **kw):
    return MAEPretrainConfig(model=MAEConfig(**SMALL), imu_windows=data, steps=steps, batch_size=8, out=str(out),
                             checkpoint_every=2, warmup_steps=1, threads=1, **kw)


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    """4 steps in one go equal 2 steps, an "interruption", then the same command resuming to 4 (weights,
    optimizer and the random state of windows and masks are in last.pt)."""
    data = windows_file(tmp_path / "w.npz")
    straight, _ = train(tiny(tmp_path / "a", 4, data, augment="rotate,scale,jitter"), quiet=True)
    train(tiny(tmp_path / "b", 2, data, augment="rotate,scale,jitter"), quiet=True)
    assert checkpoint.load(tmp_path / "b" / "last.pt")["train_state"]["step"] == 2
    resumed, enc_path = train(tiny(tmp_path / "b", 4, data, augment="rotate,scale,jitter"), quiet=True)
    a, b = straight.state_dict(), resumed.state_dict()
    assert set(a) == set(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the encoder checkpoint is the pretrained encoder, with its input contract
    enc = load_encoder(enc_path)
    assert isinstance(enc, MAEEncoder)
    for k, v in resumed.encoder.state_dict().items():
        assert torch.equal(v, enc.state_dict()[k]), k
    ckpt = checkpoint.load(enc_path)
    assert ckpt["kind"] == "encoder" and ckpt["window"]["window"] == 64 and ckpt["pretrain"]["method"] == "mae"
    # the z-score inside the encoder was fitted on the pretraining windows (not the identity)
    assert not torch.equal(enc.standardize.std, torch.ones_like(enc.standardize.std))
    # the whole masked autoencoder (decoder included) is in last.pt, and its encoder loads too
    mae, _ = load_model(tmp_path / "b" / "last.pt")
    assert hasattr(mae, "decoder_pred")
    assert isinstance(load_encoder(tmp_path / "b" / "last.pt"), MAEEncoder)


def test_pretraining_learns_to_fill_in_masked_spans_of_sine_waves(tmp_path):
    """Past the plateau where it predicts the mean (loss ~1 on z-scored windows): the loop trains."""
    t = np.arange(64) / 50.0
    rng = np.random.default_rng(0)
    x = np.stack([np.sin(2 * np.pi * rng.uniform(1, 3) * t[None] + rng.uniform(0, 6, (6, 1)))
                  for _ in range(256)]).astype(np.float32)
    np.savez(tmp_path / "w.npz", x=x, channels=np.array(CHANNELS))
    cfg = tiny(tmp_path / "run", 300, str(tmp_path / "w.npz"))
    cfg.model = MAEConfig(**{**SMALL, "dim": 64, "depth": 2, "heads": 4, "decoder_dim": 32, "decoder_heads": 4,
                             "mask_ratio": 0.5})
    cfg.batch_size, cfg.lr, cfg.warmup_steps, cfg.checkpoint_every, cfg.log_every = 32, 2e-3, 10, 300, 25
    train(cfg, quiet=True)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert min(losses[:3]) > 0.95  # the plateau
    assert np.mean(losses[-3:]) < 0.88


def test_windows_come_from_a_folder_of_recordings_whole_and_unlabelled(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(2):
        rec = Recording(rng.normal(size=(6, 300)).astype(np.float32), np.zeros(300, np.int64), CHANNELS, 50.0,
                        subject=i + 1, recording_id=f"r{i}")
        write_recording_csv(tmp_path / f"r{i}.csv", rec, {0: "walking"})
    x, channels, rate = load_windows(str(tmp_path), 64, 16)
    assert channels == CHANNELS and rate == pytest.approx(50.0)
    assert x.shape == (2 * ((300 - 64) // 16 + 1), 6, 64)
    with pytest.raises(ValueError, match="expected hapt-train"):
        load_windows(str(tmp_path / "nothing.bin"), 64, 16)


def test_rotation_turns_both_triads_alike_and_keeps_their_norms():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, 64)
    y = augment(x, ("rotate",), CHANNELS, g)
    for triad in (slice(0, 3), slice(3, 6)):
        assert torch.allclose(y[:, triad].norm(dim=1), x[:, triad].norm(dim=1), atol=1e-5)
    assert not torch.allclose(y, x)
    # the same rotation for acc and gyro: a window whose gyro equals its acc keeps them equal
    z = augment(torch.cat([x[:, :3], x[:, :3]], 1), ("rotate",), CHANNELS, torch.Generator().manual_seed(0))
    assert torch.allclose(z[:, :3], z[:, 3:], atol=1e-6)


def test_set_pool_rewrites_only_the_pooling_of_an_encoder_checkpoint(tmp_path):
    from imuedge.train.mae_pretrain import set_pool

    data = windows_file(tmp_path / "w.npz")
    cfg = tiny(tmp_path / "a", 2, data)
    cfg.model = MAEConfig(**SMALL, pool="mean")
    _, path = train(cfg, quiet=True)
    before = load_encoder(path)
    set_pool(path, "mean_std")
    after, ckpt = load_encoder(path), checkpoint.load(path)
    assert ckpt["model"]["config"]["pool"] == ckpt["pretrain"]["config"]["model"]["pool"] == "mean_std"
    x = torch.randn(2, 6, 64)
    assert before.out_dim == 32 and after.out_dim == 64
    assert torch.allclose(after(x)[:, 0::2], before(x), atol=1e-6)  # same weights, the mean half unchanged
    with pytest.raises(ValueError, match="pool"):
        set_pool(path, "max")
    with pytest.raises(ValueError, match="not an MAE encoder"):
        set_pool(tmp_path / "a" / "last.pt", "mean")


def test_the_mae_pool_flag_reaches_the_encoder_config():
    from imuedge.cli import build_parser
    from imuedge.train.mae_pretrain import config_from_args

    parse = lambda *flags: config_from_args(build_parser().parse_args(["pretrain", "--method", "mae", *flags]))  # noqa: E731
    assert parse().model.pool == "mean_std"
    assert parse("--mae-pool", "mean").model.pool == "mean"
