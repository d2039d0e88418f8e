"""The live view's spectrogram (android_demo/src/spectrogram.js) is the model's log-magnitude STFT."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from imuedge.spectrogram import Spectrogram, SpectrogramConfig

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_js_log_magnitude_equals_the_models(hapt):
    x = hapt["windows"]["test"].x[:1]
    cfg = SpectrogramConfig()
    want = Spectrogram(config=cfg).log_magnitude(torch.from_numpy(x)).numpy()[0]  # (C, F, frames)
    out = subprocess.run(["node", str(HERE / "spectrogram_js.mjs")], capture_output=True, text=True, timeout=60,
                         input=json.dumps({"window": x[0].ravel().tolist(), "samples": cfg.samples,
                                           "n_fft": cfg.n_fft, "hop": cfg.hop, "log_eps": cfg.log_eps}))
    assert out.returncode == 0, out.stderr
    got = np.array([np.reshape(c["data"], (c["freqs"], c["frames"])) for c in json.loads(out.stdout)])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4)
