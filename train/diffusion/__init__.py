"""Class-conditional diffusion generators for IMU windows, and their few-step distilled samplers.

    framing.py     STFT / inverse STFT of a window as two fixed matrices (exact round trip, exports anywhere)
    schedulers.py  per-sensor linear noise schedules; DDPM and DDIM samplers (set_timesteps / step / add_noise)
    unet.py        the 2-D UNet denoiser over (channel x real/imag) time-frequency planes
    model.py       the teacher: framing + UNet + schedule, v-parameterisation, classifier-free guidance
    train.py       `imuedge diffusion train`: teacher training (resumable, atomic checkpoints, --device, DDP-ready)
    distill.py     progressive distillation into 4 / 2 / 1-step students; the unrolled student graph
    export.py      the student to .onnx / .pte / .tflite with fp32 parity, and a generator bundle's `sample()`
    generate.py    `imuedge generate`: synthetic recordings as CSV files the data layer loads
    evaluate.py    TSTR / TRTR, discriminative score, Frechet distance, plots, samples per second

The latent (TimeLDM-style) generator and the VQ (TimeVQVDM-style) pieces:
    vae.py           the window VAE: (C, T) <-> a compact latent sequence; L1 + L2 + FFT reconstruction loss
    adaptive_beta.py the VAE's KL weight, lowered when reconstruction plateaus
    transformer.py   the latent denoiser (transformer with positional encoding; the UNet's interface)
    latent.py        the latent diffusion model (the VAE as its space, the transformer as its denoiser)
    latent_train.py  `imuedge diffusion vae` and `imuedge diffusion latent`: the two resumable stages
    vq.py            LF/HF band split through the STFT; the vector quantizer
"""
