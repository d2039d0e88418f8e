"""In-browser latency of bundles (the phone app's benchmark page) beside native runtimes, in one run.

    python -m benchmarks.browser_bench BUNDLE_DIR ... [--runs 200] [--warmup 20] [--throttle 4] [--out DIR]
    python -m benchmarks.browser_bench --merge FILE.json ... [--out DIR]     # phone / ExecuTorch rows

The first form serves the app (``imuedge demo-app``'s server, COOP/COEP), opens ``bench.html`` in headless
Debian chromium (Playwright) with each .onnx / .tflite bundle, single thread, and reads the page's own JSON:
once unthrottled and once under DevTools CPU throttling (``--throttle``x, a rough stand-in for a phone's
slower cores: labelled so, never a phone number). In the same process, before and after the browser, it
times the same bundles in the native runtimes (onnxruntime / ai-edge-litert, one thread, same window) so
the WASM / native ratio is side by side on one machine. Writes ``OUT/browser_bench.json`` and ``.md``.

``--merge`` renders a table from JSON files other devices produced: the benchmark page's saved JSON from
a phone (schema ``imuedge-browser-bench``), this host's ``export_bench.json``, and ExecuTorch's Android
benchmark app's ``benchmark_results.json`` (for .pte bundles; see android_demo/README.md).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.export_bench import find_bundles, timings
from imuedge.command_line import relative_path
from imuedge.machine import machine

ROOT = Path(__file__).resolve().parents[1]
TARGET_WASM_VS_NATIVE_1T = 2.0


def bench_window(bundle) -> np.ndarray:
    """The window the benchmark page uses: the manifest's first probe window (a real HAPT window)."""
    m = json.loads((bundle / "imuedge.json").read_text())
    probe = m["fingerprint"]["probe"]
    return np.stack([np.asarray(probe["channels"][c][0], np.float32) for c in m["input"]["channels"]])


def native(bundles, runs: int, warmup: int) -> dict:
    from imuedge.bundle import load_bundle

    out = {}
    for b in bundles:
        p = load_bundle(b, threads=1)
        w = bench_window(b)[None]
        out[b.name] = timings(p.predict, w, runs, warmup)
    return out


def browser(bundles, runs: int, warmup: int, throttle: float | None) -> dict:
    from playwright.sync_api import sync_playwright

    from imuedge.android_demo.install import apt_chromium
    from imuedge.android_demo.serve import serve_in_thread

    server, base = serve_in_thread(bundles)
    try:
        with sync_playwright() as pw:
            br = pw.chromium.launch(executable_path=apt_chromium(), args=["--no-sandbox", "--disable-gpu"])
            page = br.new_page()
            if throttle:
                page.context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": throttle})
            query = "&".join(f"bundle=bundles/{b.name}" for b in bundles)
            page.goto(f"{base}/bench.html?{query}&runs={runs}&warmup={warmup}&threads=1&auto", timeout=60_000)
            page.wait_for_function("() => window.benchResult || window.benchError", timeout=600_000)
            result = page.evaluate("() => window.benchResult || {error: window.benchError}")
            br.close()
    finally:
        server.shutdown()
        server.server_close()
    if "error" in result:
        raise RuntimeError(f"benchmark page: {result['error']}")
    result["cpu_throttling"] = throttle or 1
    result["label"] = (f"headless chromium on this host, DevTools CPU throttling {throttle}x (a rough phone "
                       f"stand-in, not a phone)" if throttle else "headless chromium on this host, unthrottled")
    return result


def interleaved(bundles, runs: int, warmup: int, rounds: int) -> dict:
    """WASM and native single thread on the same window, alternated in ``rounds`` blocks of ``runs / rounds``
    calls per bundle (the page keeps each bundle loaded), so a load change on a shared host hits both sides."""
    from playwright.sync_api import sync_playwright

    from imuedge.android_demo.install import apt_chromium
    from imuedge.android_demo.serve import serve_in_thread
    from imuedge.bundle import load_bundle

    per = max(1, runs // rounds)
    times = {b.name: {"native": [], "wasm": [], "round_ratios": []} for b in bundles}
    server, base = serve_in_thread(bundles)
    try:
        with sync_playwright() as pw:
            br = pw.chromium.launch(executable_path=apt_chromium(), args=["--no-sandbox", "--disable-gpu"])
            page = br.new_page()
            page.goto(f"{base}/bench.html", timeout=60_000)
            page.wait_for_function("() => window.imuedgeBench")
            natives = {}
            for b in bundles:
                url = f"bundles/{b.name}"
                page.evaluate("(u) => window.imuedgeBench.load(u)", url)
                page.evaluate("([u, n]) => window.imuedgeBench.time(u, n)", [url, warmup])
                natives[b.name] = (load_bundle(b, threads=1), bench_window(b)[None])
                timings(natives[b.name][0].predict, natives[b.name][1], 1, warmup)
            for _ in range(rounds):
                for b in bundles:
                    p, w = natives[b.name]
                    nat = []
                    for _ in range(per):
                        t0 = time.perf_counter()
                        p.predict(w)
                        nat.append((time.perf_counter() - t0) * 1000)
                    wasm = page.evaluate("([u, n]) => window.imuedgeBench.time(u, n)", [f"bundles/{b.name}", per])
                    t = times[b.name]
                    t["native"] += nat
                    t["wasm"] += wasm
                    t["round_ratios"].append(float(np.median(wasm) / np.median(nat)))
            br.close()
    finally:
        server.shutdown()
        server.server_close()
    return {name: {"native_median_ms": float(np.median(t["native"])), "wasm_median_ms": float(np.median(t["wasm"])),
                   "ratio": float(np.median(t["wasm"]) / np.median(t["native"])),
                   "round_ratios": t["round_ratios"], "calls_per_side": len(t["native"])} for name, t in times.items()}


def run(args) -> dict:
    bundles = [b for b in find_bundles(args.bundles)
               if json.loads((b / "imuedge.json").read_text())["format"] in ("onnx", "tflite")]
    if not bundles:
        raise SystemExit("no .onnx or .tflite bundles given")
    before = native(bundles, args.runs, args.warmup)
    pages = [browser(bundles, args.runs, args.warmup, None)]
    if args.throttle:
        pages.append(browser(bundles, args.runs, args.warmup, args.throttle))
    after = native(bundles, args.runs, args.warmup)
    side = interleaved(bundles, args.runs, args.warmup, args.rounds)
    rows = []
    for b in bundles:
        m = json.loads((b / "imuedge.json").read_text())
        nat = float(np.mean([before[b.name]["median_ms"], after[b.name]["median_ms"]]))
        row = {"name": b.name, "format": m["format"], "precision": m["precision"],
               "native_1t": {"before": before[b.name], "after": after[b.name], "median_ms": nat,
                             "runtime": "onnxruntime" if m["format"] == "onnx" else "ai-edge-litert"}}
        for page in pages:
            r = next(x for x in page["rows"] if x["name"] == b.name)
            key = "browser_1t" if page["cpu_throttling"] == 1 else f"browser_1t_throttled_{page['cpu_throttling']:g}x"
            row[key] = r
        row["interleaved_1t"] = side[b.name]
        row["wasm_vs_native_1t"] = side[b.name]["ratio"]
        rows.append(row)
    return ({"machine": machine(), "browser": pages[0]["machine"], "statistic": pages[0]["statistic"] +
            "; native: median of the two passes' medians (one before, one after the browser)",
            "pages": [{k: v for k, v in p.items() if k != "rows"} for p in pages], "rows": rows,
            "target_wasm_vs_native_1t": TARGET_WASM_VS_NATIVE_1T,
            "bundles": [relative_path(str(b)) for b in bundles], "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())},
            pages)


def table(result: dict) -> str:
    throttled = [k for k in result["rows"][0] if k.startswith("browser_1t_throttled")]
    head = ("| bundle | benchmark page: WASM 1 thread median (ms) | p95 / p99 (ms) | native 1 thread, before+after (ms) | "
            "alternated: WASM / native medians (ms) | WASM / native |")
    head += "".join(f" {k.split('_')[-1]} CPU-throttled browser (ms, not a phone) |" for k in throttled)
    lines = [head, "|" + "---|" * (6 + len(throttled))]
    for r in result["rows"]:
        b = r["browser_1t"]["latency"]
        i = r["interleaved_1t"]
        line = (f"| {r['name']} ({r['browser_1t']['runtime']}) | {b['median_ms']:.3f} | {b['p95_ms']:.3f} / "
                f"{b['p99_ms']:.3f} | {r['native_1t']['median_ms']:.3f} | {i['wasm_median_ms']:.3f} / "
                f"{i['native_median_ms']:.3f} | {r['wasm_vs_native_1t']:.2f}x |")
        line += "".join(f" {r[k]['latency']['median_ms']:.3f} |" for k in throttled)
        lines.append(line)
    br = result["browser"]
    return "\n".join([
        f"Machine: {result['machine']['cpu']}, {result['machine']['usable_cores']} usable cores (shared, loaded); "
        f"{br['browser']}, SIMD {'on' if br['simd'] else 'off'}, cross-origin isolated "
        f"{br['cross_origin_isolated']}; {result['date']}. Medians; {result['statistic']}.", "",
        *lines, "",
        "WASM / native: medians of the alternated blocks (native and in-page WASM timed in turns on one window; "
        "ratio of the two medians).",
        f"Target: WASM single thread <= {result['target_wasm_vs_native_1t']:g}x native single thread, per bundle: "
        + ", ".join(f"{r['name']} {'met' if r['wasm_vs_native_1t'] <= result['target_wasm_vs_native_1t'] else 'missed'}"
                    for r in result["rows"]) + ".", ""])


# ---------------------------------------------------------------- merging other devices' JSON
def device_rows(path: Path) -> list[dict]:
    """Rows (device, bundle, runtime, median ms, p95 ms, note) from one JSON file of any known kind."""
    d = json.loads(path.read_text())
    if isinstance(d, dict) and d.get("schema") == "imuedge-browser-bench":  # the benchmark page, e.g. on a phone
        m = d["machine"]
        dev = m.get("device_model") or m.get("platform") or "browser"
        return [{"device": dev, "bundle": r["name"], "runtime": f"{r['runtime']} in {m['browser']}",
                 "median_ms": r["latency"]["median_ms"], "p95_ms": r["latency"].get("p95_ms"),
                 "note": f"{r['threads']} thread(s), SIMD {'on' if m.get('simd') else 'off'}"
                         + (f"; {d['label']}" if d.get("label") else "")} for r in d["rows"]]
    if isinstance(d, dict) and "rows" in d and "machine" in d and "cpu" in d["machine"]:  # export_bench.json
        return [{"device": d["machine"]["cpu"], "bundle": r["name"], "runtime": r["format"],
                 "median_ms": r["latency_1t"]["median_ms"], "p95_ms": None, "note": "host, 1 thread"}
                for r in d["rows"] if "latency_1t" in r]
    if isinstance(d, list):  # ExecuTorch Android benchmark app: benchmark_results.json, one record per metric
        out = []
        for rec in d:
            if "latency" in str(rec.get("metric", "")).lower() and "inference" in str(rec.get("metric", "")).lower():
                model = rec.get("benchmarkModel", {})
                dev = rec.get("deviceInfo", {})
                out.append({"device": " ".join(str(dev.get(k, "")) for k in ("device", "os")).strip() or "android",
                            "bundle": model.get("name", "?"), "runtime": f"ExecuTorch {model.get('backend', '')}".strip(),
                            "median_ms": float(rec["actualValue"]), "p95_ms": None,
                            "note": f"{rec['metric']} ({model.get('quantization', '')})"})
        return out
    raise ValueError(f"{path}: not a benchmark-page, export_bench or ExecuTorch benchmark_results.json file")


def merge_table(paths) -> str:
    rows = [r for p in paths for r in device_rows(Path(p))]
    lines = ["| device | bundle | runtime | latency (ms) | p95 (ms) | note |", "|---|---|---|---|---|---|"]
    for r in rows:
        p95 = "" if r["p95_ms"] is None else f"{r['p95_ms']:.3f}"
        lines.append(f"| {r['device']} | {r['bundle']} | {r['runtime']} | {r['median_ms']:.3f} | {p95} | {r['note']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.browser_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("bundles", nargs="*", help="bundle folders or export output folders")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--throttle", type=float, default=4.0, help="DevTools CPU throttling rate of the second pass "
                                                                "(0: none)")
    ap.add_argument("--rounds", type=int, default=10, help="alternating native / WASM blocks for the ratio")
    ap.add_argument("--merge", nargs="+", metavar="FILE.json", help="render a device table from these JSON files")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "browser"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.merge:
        text = merge_table(args.merge)
        (out / "devices.md").write_text(text)
        print(text)
        return 0
    result, pages = run(args)
    (out / "browser_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    for page in pages:  # the benchmark page's own JSON, as a phone would save it
        name = "page_unthrottled.json" if page["cpu_throttling"] == 1 else f"page_throttled_{page['cpu_throttling']:g}x.json"
        (out / name).write_text(json.dumps(page, indent=2) + "\n")
    paths = [out / "page_unthrottled.json", *[p for p in out.glob("page_throttled_*.json")]]
    host = ROOT / "benchmarks" / "results" / "export_bench.json"
    (out / "devices.md").write_text(merge_table([*paths, *([host] if host.is_file() else [])]))
    text = table(result)
    (out / "browser_bench.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
