"""The MAE model: tokens, masking, the loss on masked patches, the spectral term, the encoder contract."""
import numpy as np
import pytest
import torch

from imuedge.train.encoder import Classifier, build_model, model_spec
from imuedge.train.mae import MAEConfig, MAEEncoder, MaskedAutoencoder

TINY = MAEConfig(window=64, patch=4, dim=32, depth=1, heads=2, decoder_dim=16, decoder_depth=1, decoder_heads=2)


def tiny(**kw) -> MaskedAutoencoder:
    torch.manual_seed(0)
    return MaskedAutoencoder(MAEConfig(**{**TINY.to_dict(), **kw})).eval()


def test_patchify_makes_one_token_per_time_patch_of_all_channels_and_unpatchify_inverts_it():
    mae = tiny()
    x = torch.randn(2, 6, 64)
    patches = mae.patchify(x)
    assert patches.shape == (2, 16, 6 * 4)
    # token 3 holds samples 12..15 of acc_x, then of acc_y, ... (channel by channel)
    assert torch.equal(patches[1, 3], x[1, :, 12:16].reshape(-1))
    assert torch.equal(mae.unpatchify(patches), x)


@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.75])
def test_random_masking_hides_the_asked_share_and_keeps_the_visible_tokens_in_place(ratio):
    mae = tiny()
    tokens = torch.arange(2 * 16 * 3, dtype=torch.float32).reshape(2, 16, 3)
    kept, mask, ids_restore = mae.random_masking(tokens, ratio, torch.Generator().manual_seed(1))
    masked = int(round(16 * ratio))
    assert kept.shape == (2, 16 - masked, 3)
    assert mask.shape == (2, 16) and (mask.sum(1) == masked).all()
    for i in range(2):  # the kept tokens are exactly the unmasked ones
        assert sorted(kept[i, :, 0].tolist()) == tokens[i][mask[i] == 0][:, 0].tolist()
    # ids_restore undoes the shuffle: kept tokens + placeholders, gathered, are back in order
    full = torch.cat([kept, torch.full((2, masked, 3), -1.0)], 1)
    back = torch.gather(full, 1, ids_restore[:, :, None].expand(-1, -1, 3))
    assert torch.equal(back[mask == 0], tokens[mask == 0])


def test_masking_is_deterministic_per_seed_and_differs_between_windows_and_seeds():
    mae = tiny()
    tokens = torch.randn(4, 16, 3)
    m1 = mae.random_masking(tokens, 0.75, torch.Generator().manual_seed(5))[1]
    m2 = mae.random_masking(tokens, 0.75, torch.Generator().manual_seed(5))[1]
    m3 = mae.random_masking(tokens, 0.75, torch.Generator().manual_seed(6))[1]
    assert torch.equal(m1, m2)
    assert not torch.equal(m1, m3)
    assert not all(torch.equal(m1[0], m1[i]) for i in range(1, 4))  # each window its own mask


def test_loss_is_on_masked_patches_only():
    mae = tiny()
    x = torch.randn(3, 6, 64)
    with torch.no_grad():
        loss, pred, mask = mae(x, generator=torch.Generator().manual_seed(0))
        target = mae.patchify(mae.encoder.standardize(x))
        # wreck every VISIBLE patch of the prediction: the loss does not move
        wrecked = torch.where(mask[..., None].bool(), pred, pred + 100.0)
        assert torch.allclose(mae.forward_loss(x, wrecked, mask), loss)
        # a perfect prediction of the masked patches gives zero, whatever the visible ones are
        perfect = torch.where(mask[..., None].bool(), target, torch.randn_like(target))
        assert mae.forward_loss(x, perfect, mask).item() == pytest.approx(0.0, abs=1e-10)
        # and the value is the mean squared error over the masked patches
        expected = ((pred - target) ** 2).mean(-1)[mask.bool()].mean()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_normalised_targets_are_standardised_patch_by_patch():
    mae = tiny(norm_target=True)
    x = torch.randn(2, 6, 64) * 3 + 1
    target, mean, std = mae.targets(x)
    assert torch.allclose(target.mean(-1), torch.zeros(2, 16), atol=1e-5)
    raw = mae.patchify(mae.encoder.standardize(x))
    assert torch.allclose(target * std + mean, raw, atol=1e-5)


def stft_magnitude_by_hand(s: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|DFT| of Hann-windowed frames, every ``hop`` samples, no padding: (frequencies, frames)."""
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic, as torch.hann_window
    frames = [s[i:i + n_fft] * hann for i in range(0, len(s) - n_fft + 1, hop)]
    k, n = np.arange(n_fft // 2 + 1)[:, None], np.arange(n_fft)[None, :]
    dft = np.exp(-2j * np.pi * k * n / n_fft)
    return np.abs(np.stack([dft @ f for f in frames], axis=1))


def test_spectral_term_equals_a_direct_computation():
    mae = tiny(spectral_weight=1.0, spectral_n_fft=16, spectral_hop=4)
    x = torch.randn(2, 6, 64, dtype=torch.float32)
    with torch.no_grad():
        _, pred, mask = mae(x, generator=torch.Generator().manual_seed(3))
        got = mae.spectral_loss(x, pred, mask).item()
        xs = mae.encoder.standardize(x).numpy().astype(np.float64)
    p, m = pred.numpy().astype(np.float64), mask.numpy()
    mixed = xs.copy()
    for i in range(2):  # masked patches replaced by the prediction, by hand
        for t in np.flatnonzero(m[i]):
            mixed[i, :, 4 * t:4 * t + 4] = p[i, t].reshape(6, 4)
    diffs = [stft_magnitude_by_hand(mixed[i, c], 16, 4) - stft_magnitude_by_hand(xs[i, c], 16, 4)
             for i in range(2) for c in range(6)]
    assert got == pytest.approx(float(np.mean(np.square(diffs))), rel=1e-4)
    # and the total loss adds it with its weight
    mse = MaskedAutoencoder.forward_loss(tiny(), x, pred, mask).item()
    assert mae.forward_loss(x, pred, mask).item() == pytest.approx(mse + got, rel=1e-5)


def test_edge_default_is_small_and_large_is_larger():
    enc = MaskedAutoencoder().encoder
    n = sum(p.numel() for p in enc.parameters())
    assert n <= 500_000
    assert sum(p.numel() for p in MaskedAutoencoder(MAEConfig.large()).encoder.parameters()) > 4 * n


def test_encoder_sees_the_whole_window_and_rebuilds_from_its_spec_inside_a_classifier():
    mae = tiny()
    enc = mae.encoder
    enc.fit_normalization(np.random.default_rng(0).normal(2.0, 3.0, (50, 6, 64)).astype(np.float32))
    assert torch.allclose(enc.standardize.mean, torch.full((6, 1), 2.0), atol=0.1)
    clf = Classifier(enc, 4).eval()
    spec = model_spec(clf)
    assert spec["config"]["encoder_name"] == "mae_encoder"
    again = build_model(spec).eval()
    again.load_state_dict(clf.state_dict())
    x = torch.randn(3, 6, 64)
    assert torch.equal(clf(x), again(x)) and clf(x).shape == (3, 4)
    assert isinstance(again.encoder, MAEEncoder) and again.encoder.window == 64
    # the embedding depends on every part of the window (no token is dropped outside pretraining)
    y = x.clone()
    y[:, :, -4:] += 1.0
    assert not torch.allclose(enc(x), enc(y))


def test_bad_configurations_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="multiple of patch"):
        MAEConfig(window=100, patch=8)
    with pytest.raises(ValueError, match="activation"):
        MAEConfig(activation="swish")
    with pytest.raises(ValueError, match="mask_ratio"):
        MAEConfig(mask_ratio=1.0)


def test_pooled_features_are_each_features_mean_and_std_over_tokens():
    tokens = torch.randn(3, 16, 32)
    enc = tiny().encoder  # pool="mean_std", the default
    assert enc.out_dim == 64
    pooled = enc.pool_tokens(tokens)
    assert pooled.shape == (3, 64)
    assert torch.allclose(pooled[:, 0::2], tokens.mean(1), atol=1e-6)
    assert torch.allclose(pooled[:, 1::2], tokens.std(1, unbiased=False), atol=1e-5)
    mean_only = tiny(pool="mean").encoder
    assert mean_only.out_dim == 32 and torch.allclose(mean_only.pool_tokens(tokens), tokens.mean(1), atol=1e-6)
    x = torch.randn(2, 6, 64)  # same weights, so the mean half of the features is the mean-pooled encoder's
    assert torch.allclose(enc(x)[:, 0::2], mean_only(x), atol=1e-6)
    with pytest.raises(ValueError, match="pool"):
        MAEConfig(pool="max")


def test_an_encoder_config_without_pool_is_read_as_the_mean_pooled_encoder_it_was_written_by():
    config = tiny().encoder.to_config()
    assert config["pool"] == "mean_std"
    del config["pool"]  # checkpoints written before the option
    assert MAEEncoder.from_config(config).config["pool"] == "mean"
    assert MAEConfig.from_dict({k: v for k, v in TINY.to_dict().items() if k != "pool"}).pool == "mean"
