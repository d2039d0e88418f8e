"""Where onnxruntime-web's WASM time goes, per operator, beside native onnxruntime, one thread, one run.

    python -m benchmarks.browser_profile BUNDLE_DIR [--runs 100] [--warmup 20] [--out DIR]
    python -m benchmarks.browser_profile BUNDLE_DIR --native-levels [--runs 300]

For one .onnx bundle: the median latency in headless chromium at graph optimisation levels disabled / basic
/ all, then onnxruntime-web's own per-node profile (``enableProfiling``) and native onnxruntime's
(``enable_profiling``) summed per operator type over ``--runs`` runs after ``--warmup`` (warm-up events
dropped), and the spectrogram's DFT convolution (the graph's first Conv) on its own. Writes
``OUT/browser_profile.json``.

``--native-levels``: native onnxruntime alone, one thread, at graph optimisation levels basic, extended and
all (only ``all`` rewrites the convolutions into the NCHWc blocked layout of its x86 kernels), the three
sessions timed in turn call by call; and the SIMD the host's CPU offers. Writes ``OUT/native_levels.json``.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.browser_bench import ROOT, bench_window
from imuedge.command_line import relative_path
from imuedge.machine import machine

PAGE = """async ({url, window, runs, warmup}) => {
  const ort = await import('/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
  ort.env.wasm.numThreads = 1;
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const x = new ort.Tensor('float32', Float32Array.from(window), [1, 6, 128]);
  const medians = {};
  for (const [level, profile] of [['disabled', false], ['basic', false], ['all', false], ['all', true]]) {
    const s = await ort.InferenceSession.create(bytes, {executionProviders: ['wasm'], graphOptimizationLevel: level,
      enableProfiling: profile});
    const feed = {[s.inputNames[0]]: x};
    for (let i = 0; i < warmup; i++) await s.run(feed);
    const ts = [];
    for (let i = 0; i < runs; i++) { const t = performance.now(); await s.run(feed); ts.push(performance.now() - t); }
    ts.sort((a, b) => a - b);
    if (!profile) medians[level] = ts[Math.floor(ts.length / 2)];
    else s.endProfiling();
    await s.release();
  }
  return {medians, simd: WebAssembly.validate(new Uint8Array([0,97,115,109,1,0,0,0,1,5,1,96,0,1,123,3,2,1,0,10,10,1,8,0,65,0,253,15,253,98,11]))};
}"""


def per_op(events: list[dict], runs: int, warmup: int) -> dict:
    """Mean µs per run by operator type, warm-up runs dropped (every run has the same node events)."""
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    per_run = len(nodes) // (runs + warmup)
    kept = nodes[per_run * warmup:]
    by_op = collections.defaultdict(float)
    for e in kept:
        by_op[e["args"]["op_name"]] += e["dur"] / runs
    first_conv = next((e["name"] for e in kept if e["args"]["op_name"] == "Conv"), None)
    dft = sum(e["dur"] for e in kept if e["name"] == first_conv) / runs
    return {"us_per_run": dict(sorted(by_op.items(), key=lambda kv: -kv[1])), "total_us": sum(by_op.values()),
            "dft_conv_us": dft, "nodes_per_run": per_run}


def browser_profile(bundle: Path, window: np.ndarray, runs: int, warmup: int) -> dict:
    from playwright.sync_api import sync_playwright

    from imuedge.android_demo.install import apt_chromium
    from imuedge.android_demo.serve import serve_in_thread

    logs: list[str] = []
    server, base = serve_in_thread([bundle])
    try:
        with sync_playwright() as pw:
            br = pw.chromium.launch(executable_path=apt_chromium(), args=["--no-sandbox", "--disable-gpu"])
            page = br.new_page()
            page.on("console", lambda m: logs.append(m.text))
            page.goto(f"{base}/bench.html")
            out = page.evaluate(PAGE, {"url": f"bundles/{bundle.name}/model.onnx", "window": window.ravel().tolist(),
                                       "runs": runs, "warmup": warmup})
            out["browser"] = br.version
            br.close()
    finally:
        server.shutdown()
        server.server_close()
    events = []
    for line in logs:
        line = line.strip().rstrip(",")
        if line.startswith("{") and '"cat"' in line:
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
    out["profile"] = per_op(events, runs, warmup)
    return out


def native_profile(bundle: Path, window: np.ndarray, runs: int, warmup: int) -> dict:
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads, o.enable_profiling = 1, 1, True
    s = ort.InferenceSession(str(bundle / "model.onnx"), o, providers=["CPUExecutionProvider"])
    feed = {s.get_inputs()[0].name: window[None]}
    for _ in range(warmup + runs):
        s.run(None, feed)
    path = s.end_profiling()
    events = json.loads(Path(path).read_text())
    os.remove(path)
    o2 = ort.SessionOptions()
    o2.intra_op_num_threads, o2.inter_op_num_threads = 1, 1
    s2 = ort.InferenceSession(str(bundle / "model.onnx"), o2, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        s2.run(None, feed)
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        s2.run(None, feed)
        ts.append((time.perf_counter() - t) * 1000)
    return {"median_ms": float(np.median(ts)), "profile": per_op(events, runs, warmup),
            "onnxruntime": ort.__version__}


def native_levels(bundle: Path, window: np.ndarray, runs: int, warmup: int) -> dict:
    """Median ms of native onnxruntime, one thread, per graph optimisation level (round-robin, call by call)."""
    import onnxruntime as ort

    levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    sessions = {}
    for name, level in levels.items():
        o = ort.SessionOptions()
        o.intra_op_num_threads, o.inter_op_num_threads, o.graph_optimization_level = 1, 1, level
        s = ort.InferenceSession(str(bundle / "model.onnx"), o, providers=["CPUExecutionProvider"])
        feed = {s.get_inputs()[0].name: window[None]}
        for _ in range(warmup):
            s.run(None, feed)
        sessions[name] = (s, feed)
    ts = {name: [] for name in sessions}
    for _ in range(runs):
        for name, (s, feed) in sessions.items():
            t = time.perf_counter()
            s.run(None, feed)
            ts[name].append((time.perf_counter() - t) * 1000)
    flags = set()
    try:
        flags = set(next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        pass
    return {"median_ms": {name: round(float(np.median(v)), 4) for name, v in ts.items()},
            "cpu_simd": sorted(f for f in flags if f.startswith(("avx", "fma", "sse4"))),
            "onnxruntime": ort.__version__}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.browser_profile", description=__doc__.split("\n\n")[0])
    ap.add_argument("bundle")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "browser"))
    ap.add_argument("--native-levels", action="store_true",
                    help="only native onnxruntime at graph optimisation levels basic/extended/all (native_levels.json)")
    args = ap.parse_args(argv)
    bundle = Path(args.bundle)
    window = bench_window(bundle)
    if args.native_levels:
        result = {"machine": machine(), "bundle": relative_path(str(bundle)), "runs": args.runs,
                  "warmup": args.warmup, "native_1t": native_levels(bundle, window, args.runs, args.warmup),
                  "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "native_levels.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["native_1t"]))
        return 0
    result = {"machine": machine(), "bundle": relative_path(str(bundle)), "runs": args.runs, "warmup": args.warmup,
              "native_1t": native_profile(bundle, window, args.runs, args.warmup),
              "wasm_1t": browser_profile(bundle, window, args.runs, args.warmup),
              "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "browser_profile.json").write_text(json.dumps(result, indent=2) + "\n")
    n, w = result["native_1t"], result["wasm_1t"]
    print(f"native 1t median {n['median_ms']:.3f} ms; wasm 1t medians by optimisation level {w['medians']}")
    for name, r in (("native", n), ("wasm", w)):
        top = list(r["profile"]["us_per_run"].items())[:4]
        print(f"{name}: {r['profile']['total_us']:.0f} us/run in kernels; top {top}; DFT conv {r['profile']['dft_conv_us']:.0f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
