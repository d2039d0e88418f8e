"""The latent (TimeLDM-style) generator's parts: the adaptive KL weight, the VAE, the denoiser, guidance."""
import pytest
import torch

from imuedge.train.diffusion.adaptive_beta import AdaptiveBeta, AdaptiveBetaConfig
from imuedge.train.diffusion.distill import UnrolledSampler
from imuedge.train.diffusion.latent import LatentConfig, LatentDiffusion
from imuedge.train.diffusion.schedulers import ScheduleConfig
from imuedge.train.diffusion.vae import VAEConfig, WindowVAE

NAMES = ("walking", "sitting", "laying")


pytestmark = pytest.mark.usefixtures("one_thread")


def beta(patience=3, **kw):
    return AdaptiveBeta(AdaptiveBetaConfig(patience=patience, smoothing=0.0, min_delta=0.0, **kw))


def test_beta_starts_at_max_and_does_not_decay_while_reconstruction_improves():
    b = beta()
    assert b.value == 1e-2
    for loss in [1.0 - 0.01 * i for i in range(50)]:
        assert b.update(loss) == 1e-2


def test_beta_decays_by_lambda_after_patience_steps_without_improvement():
    b = beta(patience=3)
    b.update(1.0)
    values = [b.update(1.0) for _ in range(7)]
    # steps 1, 2 wait; step 3 decays (x0.7) and the count restarts; step 6 decays again
    assert values == pytest.approx([1e-2, 1e-2, 7e-3, 7e-3, 7e-3, 4.9e-3, 4.9e-3])
    b.update(0.5)  # a new best resets the count
    assert [b.update(0.6) for _ in range(2)] == pytest.approx([4.9e-3, 4.9e-3])


def test_beta_never_goes_below_its_floor():
    b = beta(patience=1)
    b.update(1.0)
    for _ in range(19):
        b.update(1.0)
    assert b.value == pytest.approx(1e-2 * 0.7 ** 19)  # 1.1e-5: 19 decays, still above the floor
    for _ in range(30):
        b.update(1.0)
    assert b.value == 1e-5  # the 20th would give 8e-6: clamped to beta_min, and stays there


def test_beta_state_round_trips_and_bad_settings_are_refused():
    b = beta(patience=2)
    for loss in (1.0, 1.0, 1.0, 0.9):
        b.update(loss)
    again = beta(patience=2)
    again.load_state_dict(b.state_dict())
    assert [again.update(0.95) for _ in range(3)] == [b.update(0.95) for _ in range(3)]
    with pytest.raises(ValueError, match="beta_min <= beta_max"):
        AdaptiveBetaConfig(beta_min=1e-1)
    with pytest.raises(ValueError, match="diverged"):
        beta().update(float("nan"))


def windows(n=4):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, 128, generator=g)
    x[:, 2] += 9.8
    return x


def test_vae_maps_a_window_to_a_compact_latent_sequence_and_back_in_physical_units():
    vae = WindowVAE(VAEConfig(width=16))
    x = windows()
    vae.fit(x)
    z = vae.encode(x)
    assert z.shape == (4, 4, 32) and vae.latent_shape == (4, 32)
    out = vae.decode(z)
    assert out.shape == x.shape
    # decode undoes the input z-score: with a decoder that returns its target, the physical window comes back
    vae.fit_latent(x)
    mu, _ = vae.posterior(x)
    torch.testing.assert_close(vae.decode(vae.encode(x)), vae.reconstruct(mu) * vae.std + vae.mean)
    assert vae.encode(x).mean(dim=(0, 2)).abs().max() < 1e-4  # standardised latents


def test_vae_training_reduces_the_reconstruction_loss():
    torch.manual_seed(0)
    vae = WindowVAE(VAEConfig(width=16))
    t = torch.arange(128) / 50.0
    x = torch.stack([torch.sin(2 * torch.pi * f * t + torch.arange(6)[:, None]) for f in (1.0, 1.5, 2.0, 3.0)])
    vae.fit(x)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    recon = []
    for _ in range(30):
        loss, parts = vae.forward_loss(x, 1e-3, generator=torch.Generator().manual_seed(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        recon.append(parts["recon"])
    assert recon[-1] < 0.7 * recon[0]
    assert set(parts) == {"loss", "recon", "kl", "beta"}


def test_reconstruction_loss_has_its_fft_term():
    vae = WindowVAE(VAEConfig(width=8, fft_weight=0.0))
    a, b = torch.zeros(1, 6, 128), torch.zeros(1, 6, 128)
    b[..., 0] = 1.0
    without = vae.reconstruction_loss(a, b)
    vae.config.fft_weight = 1.0
    assert vae.reconstruction_loss(a, b) > without


def latent_model(**kw):
    torch.manual_seed(0)
    vae = WindowVAE(VAEConfig(width=8))
    vae.fit(windows())
    model = LatentDiffusion(LatentConfig(class_names=NAMES, width=16, depth=1, heads=2,
                                         schedule=ScheduleConfig(steps=100, beta_start={"latent": 1e-4},
                                                                 beta_end={"latent": 0.02}), **kw), vae)
    torch.nn.init.normal_(model.transformer.out.weight, std=0.1)  # non-zero output, so classes matter
    torch.nn.init.normal_(model.transformer.class_table, std=1.0)
    return model.eval()


def test_guidance_mixes_conditional_and_unconditional_predictions():
    model = latent_model()
    z, t, c = torch.randn(2, 4, 32), torch.tensor([10, 90]), torch.tensor([0, 2])
    with torch.no_grad():
        cond, uncond = model(z, t, c), model(z, t, torch.full_like(c, model.null_class))
        assert not torch.allclose(cond, uncond)
        torch.testing.assert_close(model.guided(z, t, c, 2.5), uncond + 2.5 * (cond - uncond))
        torch.testing.assert_close(model.guided(z, t, c, 1.0), cond)
        torch.testing.assert_close(model.guided(z, t, c, 0.0), uncond)


def test_unrolled_sampler_with_guidance_is_the_ddim_loop_decoded():
    model = latent_model()
    noise, c = torch.randn(3, 4, 32), torch.tensor([0, 1, 2])
    for w in (1.0, 2.0):
        sampler = UnrolledSampler(model, model.denoiser, 4, guidance=w).eval()
        with torch.no_grad():
            got = sampler(noise, c)
        want = model.sample(c, "ddim", 4, w, noise=noise.clone())
        assert got.shape == (3, 6, 128)
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    # the same in the latent itself (the decoder left out), where a small error is not squeezed by the decoder
    model.vae.decode = lambda z: z
    unguided = UnrolledSampler(model, model.denoiser, 4, guidance=1.0).eval()
    for w in (0.0, 3.0):
        sampler = UnrolledSampler(model, model.denoiser, 4, guidance=w).eval()
        with torch.no_grad():
            got = sampler(noise, c)
            assert (got - unguided(noise, c)).abs().max() > 1e-2  # the weight changes the samples
        torch.testing.assert_close(got, model.sample(c, "ddim", 4, w, noise=noise.clone()), atol=1e-5, rtol=1e-5)


def test_the_stft_teacher_unrolls_with_in_graph_guidance_too():
    from imuedge.train.diffusion.model import DiffusionConfig, DiffusionModel

    torch.manual_seed(0)
    m = DiffusionModel(DiffusionConfig(class_names=NAMES, base=32, mults=(1,), attention=False,
                                       schedule=ScheduleConfig(steps=100))).eval()
    for p in m.unet.parameters():
        torch.nn.init.normal_(p, std=0.1)
    torch.nn.init.normal_(m.unet.class_table, std=1.0)  # classes matter, the "no class" row too
    noise, c = torch.randn(2, *m.noise_shape), torch.tensor([0, 2])
    sampler = UnrolledSampler(m, m.denoiser, 3, guidance=2.0).eval()
    with torch.no_grad():
        got = sampler(noise, c)
        plain = UnrolledSampler(m, m.denoiser, 3, guidance=1.0)(noise, c)
    assert (got - plain).abs().max() > 1e-3  # (base 32: a GroupNorm group of one channel would cancel the class)
    torch.testing.assert_close(got, m.sample(c, "ddim", 3, 2.0, noise=noise.clone()), atol=1e-4, rtol=1e-4)


def test_class_dropout_trains_the_no_class_row():
    model = latent_model(cond_drop=1.0).train()
    z0, y = torch.randn(4, 4, 32), torch.tensor([0, 1, 2, 0])
    model.v_loss(z0, y, generator=torch.Generator().manual_seed(0)).backward()
    grad = model.transformer.class_table.grad
    assert grad[model.null_class].abs().sum() > 0 and grad[:model.null_class].abs().sum() == 0
    assert all(p.grad is None for p in model.vae.parameters())  # the VAE stays frozen
