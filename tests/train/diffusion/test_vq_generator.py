"""The VQ generator's parts: per-band VQ-VAE space, guidance rescaling, the t = 0.99 halt, the LF -> HF cascade."""
import pytest
import torch

from imuedge.train.diffusion.model import mix_guidance
from imuedge.train.diffusion.schedulers import ScheduleConfig, sampling_timesteps, trailing_timesteps
from imuedge.train.diffusion.vq import VectorQuantizer, VQConfig
from imuedge.train.diffusion.vq_prior import CascadeSampler, VQDiffusion, VQPriorConfig
from imuedge.train.diffusion.vqvae import VQVAE, VQVAEConfig

pytestmark = pytest.mark.usefixtures("one_thread")
NAMES = ("walking", "sitting", "laying")


def tiny_model(seed=0, **kw) -> VQDiffusion:
    torch.manual_seed(seed)
    cfg = VQPriorConfig(class_names=NAMES, vqvae=VQVAEConfig(width=8, codes=16), width=16, depth=1, heads=2,
                        schedule=ScheduleConfig(steps=100, beta_start={"latent": 1e-4}, beta_end={"latent": 0.02}),
                        **kw)
    model = VQDiffusion(cfg).eval()
    with torch.no_grad():  # untrained but not silent: the output layers start at zero
        for prior in (model.lf, model.hf):
            prior.transformer.out.weight.normal_(0, 0.3)
        for band in (model.vqvae.lf, model.vqvae.hf):
            band.vq.codebook.normal_()
    return model


# ------------------------------------------------------------------ guidance rescaling
def test_guidance_rescaling_is_the_closed_form_of_lin_et_al():
    g = torch.Generator().manual_seed(0)
    v_c, v_u = torch.randn(3, 4, 32, generator=g) * 2 + 1, torch.randn(3, 4, 32, generator=g)
    w, phi = 3.0, 0.7
    cfg = v_u + w * (v_c - v_u)
    std = lambda v: v.std(dim=(1, 2), keepdim=True)  # Bessel's correction: the ratio is the same  # noqa: E731
    expected = phi * cfg * std(v_c) / std(cfg) + (1 - phi) * cfg
    torch.testing.assert_close(mix_guidance(v_c, v_u, w, phi), expected)
    torch.testing.assert_close(mix_guidance(v_c, v_u, w), cfg)  # phi = 0: plain classifier-free guidance
    full = mix_guidance(v_c, v_u, w, 1.0)  # phi = 1: each sample has exactly the conditional prediction's std
    torch.testing.assert_close(std(full), std(v_c))
    assert (std(cfg) > 1.5 * std(v_c)).all()  # guidance w = 3 did overexpose: the rescaling has work to do


# ------------------------------------------------------------------ halting the reverse process
def test_halt_drops_the_last_timesteps_and_keeps_the_rest():
    assert sampling_timesteps(1000, 10) == trailing_timesteps(1000, 10)
    full, halted = trailing_timesteps(1000, 1000), sampling_timesteps(1000, 1000, 0.99)
    assert halted == [t for t in full if t >= 10] and halted[-1] == 10 and len(halted) == 990
    assert sampling_timesteps(1000, 10, 0.99) == trailing_timesteps(1000, 10)  # 10 steps never go below t = 99
    assert sampling_timesteps(1000, 4, 0.01) == [999]  # at least the first step
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="halt must be in"):
            sampling_timesteps(1000, 10, bad)


def test_a_halted_sampler_ends_on_the_clean_estimate_of_its_last_kept_step():
    model = tiny_model()
    c, noise = torch.tensor([0, 2]), torch.randn(2, 8, 32, generator=torch.Generator().manual_seed(1))
    halted = CascadeSampler(model, 100, 2.0, halt=0.9)
    assert halted.steps == 90  # timesteps 9..0 dropped of T = 100
    with torch.no_grad():
        x = halted(noise, c)
        torch.testing.assert_close(x, model.sample(c, "ddim", 100, 2.0, noise=noise, halt=0.9), atol=1e-4, rtol=0)
        assert (x - CascadeSampler(model, 100, 2.0)(noise, c)).abs().max() > 1e-4  # it is not the full chain
        # by hand: the LF chain's last kept step (t = 10) lands on alpha x - sigma v at t = 10
        lf = model.lf
        z = lf.sample_latent(c, "ddim", 100, 2.0, noise=noise[:, :4], rescale=0.7, halt=0.9)
        zs = noise[:, :4]
        from imuedge.train.diffusion.schedulers import DDIMScheduler
        sched = DDIMScheduler(lf.schedule)
        sched.set_timesteps(100, 0.9)
        for t in sched.timesteps[:-1]:
            zs = sched.step(lf.guided(zs, torch.full((2,), t), c, 2.0, rescale=0.7), t, zs)
        a, s = lf.schedule.alpha_sigma(10, zs)
        torch.testing.assert_close(z, a * zs - s * lf.guided(zs, torch.full((2,), 10), c, 2.0, rescale=0.7))


# ------------------------------------------------------------------ the cascade's wiring
def test_the_hf_prior_reads_the_lf_latent_and_the_lf_prior_never_sees_the_hf_band():
    model = tiny_model()
    g = torch.Generator().manual_seed(2)
    z, c, t = torch.randn(2, 4, 32, generator=g), torch.tensor([0, 1]), torch.tensor([50, 50])
    a, b = torch.randn(2, 4, 32, generator=g), torch.randn(2, 4, 32, generator=g)
    with torch.no_grad():
        assert (model.hf(z, t, c, cond=a) - model.hf(z, t, c, cond=b)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="reads 4 conditioning channels, got none"):
        model.hf(z, t, c)
    with pytest.raises(ValueError, match="reads 0 conditioning channels"):
        model.lf(z, t, c, cond=a)

    sampler = CascadeSampler(model, 4, 1.5)
    seen = []
    sampler.decoder.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()))
    noise = torch.randn(2, 8, 32, generator=g)
    other_hf, other_lf = noise.clone(), noise.clone()
    other_hf[:, 4:] = torch.randn(2, 4, 32, generator=g)
    other_lf[:, :4] = torch.randn(2, 4, 32, generator=g)
    with torch.no_grad():
        for n in (noise, other_hf, other_lf):
            sampler(n, c)
    base, new_hf, new_lf = seen
    torch.testing.assert_close(new_hf[:, :4], base[:, :4], atol=0, rtol=0)  # LF latent: HF noise plays no part
    assert (new_hf[:, 4:] - base[:, 4:]).abs().max() > 1e-3
    # the same HF noise gives another HF latent when the LF latent differs: HF is sampled given LF
    assert (new_lf[:, 4:] - base[:, 4:]).abs().max() > 1e-3


def test_the_training_loss_conditions_hf_on_the_real_lf_tokens_only():
    model = tiny_model().train()
    z0 = torch.randn(4, 8, 32, generator=torch.Generator().manual_seed(3), requires_grad=True)
    y = torch.tensor([0, 1, 2, 0])
    model.lf.v_loss(z0[:, :4], y, torch.Generator().manual_seed(0)).backward()
    lf_only = z0.grad.clone()
    assert lf_only[:, 4:].abs().sum() == 0  # the LF prior's loss does not touch the HF tokens
    z0.grad = None
    model.loss(z0, y, torch.Generator().manual_seed(0)).backward()  # the LF term draws the same t and noise first
    assert z0.grad[:, 4:].abs().sum() > 0
    assert (z0.grad[:, :4] - lf_only[:, :4]).abs().sum() > 0  # the HF term reads the LF tokens


def test_the_cascade_sampler_is_the_models_sampling_loop_unrolled():
    model = tiny_model(rescale=0.5)
    c, noise = torch.tensor([0, 1, 2]), torch.randn(3, 8, 32, generator=torch.Generator().manual_seed(4))
    sampler = CascadeSampler(model, 5, 2.5)
    seen = []
    sampler.decoder.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()))
    with torch.no_grad():
        x = sampler(noise, c)
        torch.testing.assert_close(x, model.sample(c, "ddim", 5, 2.5, noise=noise), atol=1e-4, rtol=0)
        # the latents themselves (the decoder's snapping onto codes would hide small differences)
        z_lf = model.lf.sample_latent(c, "ddim", 5, 2.5, noise=noise[:, :4], rescale=0.5)
        z_hf = model.hf.sample_latent(c, "ddim", 5, 2.5, noise=noise[:, 4:], cond=z_lf, rescale=0.5)
        torch.testing.assert_close(seen[0], torch.cat([z_lf, z_hf], 1), atol=1e-5, rtol=0)
        rescaled, plain = (model.lf.sample_latent(c, "ddim", 5, 2.5, noise=noise[:, :4], rescale=r) for r in (0.5, 0))
        assert (rescaled - plain).abs().max() > 1e-4  # the rescaling acts (the decoder may snap both to one code)
    assert x.shape == (3, 6, 128)
    with pytest.raises(ValueError, match="guidance rescale"):
        VQDiffusion(VQPriorConfig(class_names=NAMES, rescale=1.5))


# ------------------------------------------------------------------ the VQ-VAE and its space
def test_quantize_is_the_nearest_code_and_restart_moves_only_dead_codes():
    vq = VectorQuantizer(VQConfig(dim=4, codes=16))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        vq.codebook.copy_(torch.randn(16, 4, generator=g))
    tokens = torch.randn(2, 4, 7, generator=g)
    torch.testing.assert_close(vq.quantize(tokens), vq.embed(vq.lookup(tokens)), atol=0, rtol=0)
    before = vq.codebook.detach().clone()
    dead = torch.zeros(16, dtype=torch.bool)
    dead[[3, 9]] = True
    assert vq.restart(dead, tokens, g) == 2
    flat = tokens.transpose(1, 2).reshape(-1, 4)
    for k in (3, 9):
        assert (flat - vq.codebook[k]).abs().sum(1).min() == 0  # now sits on one of the tokens
    torch.testing.assert_close(vq.codebook[~dead], before[~dead], atol=0, rtol=0)


def test_vqvae_space_is_both_bands_quantized_and_standardised():
    torch.manual_seed(0)
    vqvae = VQVAE(VQVAEConfig(width=8, codes=16)).eval()
    x = torch.randn(16, 6, 128, generator=torch.Generator().manual_seed(6)) + 9.8
    vqvae.fit(x)
    g = torch.Generator().manual_seed(8)
    for band, signal in zip((vqvae.lf, vqvae.hf), vqvae.bands.split(x)):
        with torch.no_grad():  # an untrained encoder's tokens hardly vary (std ~1e-3): spread them out
            band.vq.project_in.weight.mul_(100)
        band.vq.restart(torch.ones(16, dtype=torch.bool), band.tokens(signal), g)  # codes on the tokens
    vqvae.fit_latent(x)
    assert (vqvae.lf.token_std > 1e-2).all() and (vqvae.hf.token_std > 1e-2).all()
    z = vqvae.encode(x)
    assert z.shape == (16, 8, 32) == (16, *vqvae.latent_shape)
    torch.testing.assert_close(z.mean(dim=(0, 2)), torch.zeros(8), atol=1e-4, rtol=0)
    lf, hf = vqvae.bands.split(x)
    torch.testing.assert_close(vqvae.lf.decode(z[:, :4]) + vqvae.hf.decode(z[:, 4:]), vqvae.decode(z))
    with torch.no_grad():  # decode snaps a latent onto its nearest codes first
        off = z[:, :4] + 0.3 * torch.randn(z[:, :4].shape, generator=torch.Generator().manual_seed(7))
        band = vqvae.lf
        snapped = (band.vq.quantize(off * band.token_std + band.token_mean) - band.token_mean) / band.token_std
        assert (off - snapped).abs().max() > 0.1
        torch.testing.assert_close(band.decode(off), band.decode(snapped), atol=1e-5, rtol=0)
        loss, parts, codes = vqvae.forward_loss(x)
    assert set(parts) == {"loss", "lf_recon", "lf_vq", "hf_recon", "hf_vq"} and codes["lf"].shape == (16, 32)
