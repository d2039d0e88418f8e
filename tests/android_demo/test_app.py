"""The phone app in headless chromium: real bundles, recorded HAPT windows fed through the motion source's
code path, predictions against Python's, refusals with load_bundle's messages, the live view rendered."""
import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from imuedge.bundle import BundleError, load_bundle

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "reports" / "android_demo" / "live_view.png"

# Each sample becomes a DeviceMotionEvent (acceleration including gravity in m/s^2, rotation rate in deg/s:
# alpha about z, beta about x, gamma about y) handed to MotionSource.handleMotion at its 50 Hz time.
REPLAY = """async ({bundle, acc, gyroDeg, periodMs}) => {
  const app = window.imuedgeApp;
  await app.useBundle(bundle);
  const source = await app.startReplay();
  for (let i = 0; i < acc.length; i++) {
    const [x, y, z] = acc[i], [gx, gy, gz] = gyroDeg[i];
    const e = new DeviceMotionEvent('devicemotion', {accelerationIncludingGravity: {x, y, z},
      rotationRate: {alpha: gz, beta: gx, gamma: gy}, interval: periodMs});
    source.handleMotion(e, i * periodMs);
  }
  while (!app.idle()) await new Promise((r) => setTimeout(r, 5));
  return {log: app.log, rate: source.rate.hz, windows: app.windowerNow.windows, gaps: app.windowerNow.gaps};
}"""


def replay(page, name, stretch):
    acc = stretch[:3].T.astype(float).tolist()
    gyro_deg = np.degrees(stretch[3:].astype(np.float64)).T.tolist()
    return page.evaluate(REPLAY, {"bundle": f"bundles/{name}", "acc": acc, "gyroDeg": gyro_deg, "periodMs": 20})


def windows_of(x, window=128, hop=64):
    return np.stack([x[:, s:s + window] for s in range(0, x.shape[1] - window + 1, hop)])


@pytest.mark.parametrize("name", ["onnx-fp32", "tflite-fp32", "onnx-int8", "tflite-int8"])
def test_page_predicts_like_python_on_hapt_through_the_motion_path(page, served, stretch, name):
    if name not in served["bundles"]:
        pytest.skip(f"the exporter refused {name} (see its export_summary.json)")
    got = replay(page, name, stretch)
    expected_windows = windows_of(stretch)
    assert got["windows"] == len(expected_windows) == 150 and got["gaps"] == 0
    assert abs(got["rate"] - 50.0) < 1e-6  # measured from the events' times
    js_windows = np.array([r["window"] for r in got["log"]], np.float32).reshape(expected_windows.shape)
    np.testing.assert_allclose(js_windows, expected_windows, rtol=1e-6, atol=1e-6)  # units, axes, resampling
    js = np.array([r["logits"] for r in got["log"]], np.float32)
    py = load_bundle(served["bundles"][name]).predict(expected_windows)
    assert js.shape == py.shape
    if name.endswith("fp32"):
        assert np.abs(js - py).max() <= 1e-4
    else:
        agreement = float((js.argmax(1) == py.argmax(1)).mean())
        assert agreement >= 0.99, agreement
    assert not page.errors


def python_message(folder) -> str:
    with pytest.raises(BundleError) as info:
        load_bundle(folder)
    return str(info.value)


@pytest.mark.parametrize("name", ["bad-sha256", "bad-sha256-tflite", "newer-schema", "no-class-names", "bad-channels",
                                  "edited-classes", "edited-classes-rebound", "window-mismatch"])
def test_page_refuses_what_load_bundle_refuses_with_its_message(page, served, name):
    js = page.evaluate("""async (url) => {
      try { await window.imuedgeApp.useBundle(url); return null; } catch (e) { return [e.name, e.message]; }
    }""", f"bundles/{name}")
    py = python_message(served["tampered"][name])
    assert js is not None, f"the page loaded {name}"
    assert js[0] == "BundleError"
    # the same words after the location (a file path in Python, a URL in the page)
    assert js[1].split(": ", 1)[1] == py.split(": ", 1)[1]
    assert page.locator("#error").inner_text() == js[1]  # and the user sees it


def test_server_sends_isolation_headers_and_the_page_is_isolated(page, served):
    with urllib.request.urlopen(served["base"] + "/index.html") as r:
        assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    with urllib.request.urlopen(served["base"] + "/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm") as r:
        assert r.headers["Content-Type"] == "application/wasm"
    with urllib.request.urlopen(served["base"] + "/bundles/index.json") as r:
        assert set(json.load(r)) >= set(served["bundles"])
    assert page.evaluate("() => crossOriginIsolated") is True
    with pytest.raises(urllib.error.HTTPError):  # only the bundle folders' own files
        urllib.request.urlopen(served["base"] + "/bundles/onnx-fp32/..%2f..%2fetc%2fpasswd")


def test_live_view_screenshot(page, served, stretch):
    """Replays a HAPT stretch into the onnx-fp32 bundle and keeps the picture of the live view."""
    got = replay(page, "onnx-fp32", stretch)
    page.evaluate("() => window.imuedgeApp.render()")
    names = json.loads((served["bundles"]["onnx-fp32"] / "imuedge.json").read_text())["output"]["class_names"]
    last = names[int(np.argmax(got["log"][-1]["logits"]))]
    assert page.locator("#label").inner_text() == last
    assert page.locator("#confidence").inner_text().startswith("confidence ")
    stats = page.locator("#stats").inner_text()
    assert "inference latency median / p95 (ms)" in stats and "sample rate measured (Hz)\t50.0" in stats
    for canvas in ("plot", "spec-acc", "spec-gyro"):  # something was drawn
        inked = page.evaluate("""(id) => { const c = document.getElementById(id);
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n / (d.length / 4); }""", canvas)
        assert inked > 0.02, canvas
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
