"""The TimeVQVDM-style pieces: LF/HF band split through the STFT, and the vector quantizer."""
import pytest
import torch

from imuedge.train.diffusion.vq import BandSplit, VectorQuantizer, VQConfig


pytestmark = pytest.mark.usefixtures("one_thread")


def sines(*freqs, n=2):
    t = torch.arange(128) / 50.0
    x = sum(torch.sin(2 * torch.pi * f * t) for f in freqs)
    return (x.expand(n, 6, 128) * torch.arange(1, 7)[None, :, None]).float()


def test_band_split_and_merge_reconstruct_the_window_exactly():
    bands = BandSplit(6, lf_bins=2)
    x = torch.randn(4, 6, 128, generator=torch.Generator().manual_seed(0)) * 3 + 9.8
    lf, hf = bands.split(x)
    assert lf.shape == hf.shape == x.shape
    assert (bands.merge(lf, hf) - x).abs().max().item() <= 1e-4
    assert lf.abs().max() > 0.1 and hf.abs().max() > 0.1  # both bands carry something


def test_band_split_puts_slow_motion_in_the_low_band_and_fast_in_the_high():
    bands = BandSplit(6, lf_bins=2)  # bins 0 and 1: up to ~2.5 Hz at 50 Hz
    slow, fast = sines(0.8), sines(5.0)  # 5 Hz: bin 3, the first one above the cut
    lf, hf = bands.split(slow)
    assert hf.pow(2).sum() < 0.05 * slow.pow(2).sum()
    lf, hf = bands.split(fast)
    assert lf.pow(2).sum() < 0.05 * fast.pow(2).sum()
    with pytest.raises(ValueError, match="lf_bins must be"):
        BandSplit(6, lf_bins=16)


def test_vq_defaults_are_the_thesis_tokens():
    vq = VectorQuantizer()
    assert vq.codebook.shape == (512, 4)


def test_codebook_lookup_returns_the_nearest_code():
    vq = VectorQuantizer(VQConfig(dim=4, codes=16))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        vq.codebook.copy_(torch.randn(16, 4, generator=g))
    z = torch.randn(3, 4, 5, generator=g)
    codes = vq.lookup(z)
    brute = torch.cdist(z.transpose(1, 2).reshape(-1, 4), vq.codebook).argmin(1).reshape(3, 5)
    assert torch.equal(codes, brute)
    q, got, _ = vq(z)
    assert torch.equal(got, codes)
    torch.testing.assert_close(q, vq.codebook[codes].transpose(1, 2))  # no projections: the codes themselves
    # a code put exactly at a token is found
    with torch.no_grad():
        vq.codebook[7] = z[1, :, 2]
    assert vq.lookup(z)[1, 2] == 7


def test_straight_through_gradient_reaches_the_input_unchanged_and_the_loss_moves_the_codebook():
    vq = VectorQuantizer(VQConfig(dim=4, codes=8))
    z = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(1), requires_grad=True)
    q, _, loss = vq(z)
    w = torch.randn_like(q)
    (q * w).sum().backward(retain_graph=True)
    torch.testing.assert_close(z.grad, w)  # d(sum w * q)/dz = w: quantization is the identity for gradients
    assert vq.codebook.grad is None or vq.codebook.grad.abs().sum() == 0
    z.grad = None
    loss.backward()
    assert vq.codebook.grad.abs().sum() > 0 and z.grad.abs().sum() > 0  # codebook term + commitment term


def test_projection_layers_map_to_low_dimensional_tokens_and_back():
    vq = VectorQuantizer(VQConfig(dim=4, codes=32, in_channels=24))
    z = torch.randn(2, 24, 8, requires_grad=True)
    q, codes, loss = vq(z)
    assert q.shape == z.shape and codes.shape == (2, 8) and codes.max() < 32
    loss.backward()
    assert vq.project_in.weight.grad.abs().sum() > 0
