"""Shared fixtures for the phone app's tests: real bundles, real HAPT windows, the served app, a browser.

The bundles are the project's own exports (``export_bundles``, .onnx and .tflite, fp32 and int8) of a small
IMG2IMU classifier (the edge backbone at widths 8/16, 32x32 images) trained for a few seconds on HAPT
training-subject windows; the browser is Debian's chromium driven by Playwright (no downloaded browser).
"""
from __future__ import annotations

import numpy as np
import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def small_classifier(n_classes: int, seed: int = 0):
    import torch

    from imuedge.train.encoder import Classifier, IMUEncoder

    torch.manual_seed(seed)
    enc = IMUEncoder(backbone="edge", backbone_kwargs={"widths": [8, 16], "depths": [1, 1]},
                     spectrogram={"image_size": [32, 32]})
    return Classifier(enc, n_classes)


@pytest.fixture(scope="session")
def hapt():
    """HAPT windows by split (the six basic activities, 128 samples, hop 64) and the raw recordings."""
    from imuedge.data import load_hapt, load_hapt_windows

    return {"windows": load_hapt_windows(), "dataset": load_hapt()}


@pytest.fixture(scope="session")
def stretch(hapt):
    """A continuous stretch of one test-subject recording, (6, T) float32 in m/s^2 and rad/s, cut so that it
    holds 150 windows of 128 samples at hop 64: what a phone on the waist would have streamed."""
    test_subjects = set(np.unique(hapt["windows"]["test"].subject).tolist())
    n = 128 + 64 * 149
    rec = next(r for r in hapt["dataset"].recordings if r.subject in test_subjects and r.data.shape[1] >= n + 500)
    assert rec.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z") and rec.sample_rate_hz == 50
    x = np.asarray(rec.data, np.float32)
    return np.ascontiguousarray(x[:, 500:500 + n])


@pytest.fixture(scope="session")
def bundles(hapt, tmp_path_factory):
    import torch

    from imuedge import checkpoint
    from imuedge.export import export_bundles, target_from_checkpoint
    from imuedge.export.make_bundles import Limits
    from imuedge.train.encoder import model_spec
    from imuedge.window import WindowSpec

    torch.set_num_threads(1)
    train, test = hapt["windows"]["train"], hapt["windows"]["test"]
    names = [train.label_names[k] for k in sorted(train.label_names)]
    rng = np.random.default_rng(0)
    idx = rng.choice(len(train.x), 768, replace=False)
    model = small_classifier(len(names))
    model.encoder.spectrogram.fit_normalization(torch.from_numpy(train.x[idx[:256]]))
    xt, yt = torch.from_numpy(train.x[idx]), torch.from_numpy(train.y[idx]).long()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(3):
        for i in torch.randperm(len(xt)).split(64):
            loss = torch.nn.functional.cross_entropy(model(xt[i]), yt[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    path = tmp_path_factory.mktemp("ckpt") / "classifier.pt"
    checkpoint.save({"kind": "classifier", "model": model_spec(model), "state_dict": model.state_dict(),
                     "window": WindowSpec().to_dict(), "label_names": {str(i): n for i, n in enumerate(names)},
                     "provenance": {"seed": 0, "data": "hapt train subjects, 768 windows"}}, path)
    target = target_from_checkpoint(path)
    pick = rng.choice(len(test.x), 192, replace=False)
    out = tmp_path_factory.mktemp("bundles")
    # The int8 agreement limit is the exporter's check against PyTorch fp32, not what these tests check (the page
    # against Python running the same int8 file): a 3-epoch toy model sits closer to its class boundaries.
    summary = export_bundles(target, out, ("onnx", "tflite"), ("fp32", "int8"), calibration=train.x[idx[:64]],
                             eval_x=test.x[pick], eval_y=test.y[pick], data={"source": "hapt"}, seed=0,
                             limits=Limits(int8_min_agreement=0.9, int8_max_f1_drop=0.1), log=lambda *a: None)
    made = {k: out / k for k, v in summary["results"].items() if (out / k / "imuedge.json").is_file()}
    return made


@pytest.fixture(scope="module")  # not session: sync_playwright keeps an asyncio loop running in this thread until
def browser():                   # it closes, and later modules' tests call asyncio.run (bleak, websockets)
    from imuedge.android_demo.install import apt_chromium

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=apt_chromium(), args=CHROMIUM_ARGS)
        yield b
        b.close()


def tamper(src, dst, edit=None, flip_byte=False):
    """A copy of bundle ``src`` with its manifest edited (``edit(manifest)``) or a byte of its model flipped."""
    import json
    import shutil

    shutil.copytree(src, dst)
    if flip_byte:
        art = next(p for p in dst.iterdir() if p.suffix in (".onnx", ".tflite"))
        data = bytearray(art.read_bytes())
        data[len(data) // 2] ^= 0x01
        art.write_bytes(bytes(data))
    if edit:
        m = json.loads((dst / "imuedge.json").read_text())
        edit(m)
        (dst / "imuedge.json").write_text(json.dumps(m, indent=2))
    return dst


def rebind(m):
    from imuedge.manifest import binding

    m["fingerprint"]["binding_sha256"] = binding(m)


def _swap_classes(m):
    names = m["output"]["class_names"]
    names[0], names[1] = names[1], names[0]


def _swap_and_rebind(m):
    _swap_classes(m)
    rebind(m)


def _window_64(m):
    m["input"]["window"] = 64
    rebind(m)


TAMPERED = {  # name: (source bundle, edit, flip a byte of the model)
    "bad-sha256": ("onnx-fp32", None, True),
    "bad-sha256-tflite": ("tflite-fp32", None, True),
    "newer-schema": ("onnx-fp32", lambda m: m.update(schema_version=2), False),
    "no-class-names": ("onnx-fp32", lambda m: m["output"].pop("class_names"), False),
    "bad-channels": ("onnx-fp32", lambda m: m["input"].update(channels=["gyro_x", "acc_x"]), False),
    "edited-classes": ("onnx-fp32", _swap_classes, False),
    "edited-classes-rebound": ("tflite-fp32", _swap_and_rebind, False),
    "window-mismatch": ("onnx-fp32", _window_64, False),
}


@pytest.fixture(scope="session")
def served(bundles, tmp_path_factory):
    """The app served by imuedge demo-app's server with the real bundles and tampered copies of two of them."""
    from imuedge.android_demo.serve import serve_in_thread

    root = tmp_path_factory.mktemp("tampered")
    bad = {name: tamper(bundles[src], root / name, edit, flip) for name, (src, edit, flip) in TAMPERED.items()}
    server, base = serve_in_thread([*bundles.values(), *bad.values()])
    yield {"base": base, "bundles": bundles, "tampered": bad}
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def page(browser, served):
    p = browser.new_page(viewport={"width": 800, "height": 1100})
    errors = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(served["base"] + "/index.html?nosw")
    p.evaluate("() => window.imuedgeApp.ready")
    p.errors = errors
    yield p
    p.close()
