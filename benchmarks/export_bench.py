"""Export benchmark: every bundle format x precision against PyTorch eager fp32, in one process.

    python -m benchmarks.export_bench [CHECKPOINT] [BUNDLE_DIR ...] [--runs 200] [--out benchmarks/results]

CHECKPOINT (default ``reports/default/classifier.pt``, written by ``imuedge run``)
is the PyTorch eager fp32 reference row. Bundles: each BUNDLE_DIR (or
``--bundles`` DIR) is a bundle folder or an ``imuedge export`` output folder
(``DIR/*/imuedge.json``); without any, the checkpoint is exported first (pte, tflite, onnx x
fp32, int8; HAPT calibration) into ``--export-dir``.

Per row: latency of one window (median and p99 of ``--runs`` runs after
``--warmup``), single thread and all threads, all measured in this one process
so ratios are side by side; model load time; peak RSS (each bundle loaded and
run in its own subprocess: VmHWM of that process, and its growth over the
peak after importing the runtime); artifact size; macro-F1 and accuracy on HAPT test
windows. The in-graph spectrogram's cost is measured as the issue defines it, the
model with and without it: the checkpoint exported to .pte twice per precision
(fp32, int8), once as is and once with the spectrogram replaced by a fixed image
(one real window's, tied to the input by a single add of one sample so nothing
is folded away; that add over the image is the whole of the stand-in's cost, so
the difference slightly UNDER-states the spectrogram by one elementwise pass).
This runs in a fresh process that loads only these programs (a device runs one
model in one runtime, not six bundles in four runtimes as the benchmark's own
process holds by then). Per
precision, the two programs alternate call by call on the same windows (one
pair at a time: interleaving all four let the other precision's weights evict
this pair's from the caches between calls); the share is the median of the
paired differences over the model's median.
For information, the spectrogram alone (with and without handing its image back
to Python) and the backbone+head alone on precomputed images are also timed as
separate fp32 programs.

Writes ``OUT/export_bench.json``, ``.md`` (table) and ``.png`` (bar chart).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from imuedge.bundle import set_pte_threads
from imuedge.command_line import relative_path
from imuedge.machine import machine, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CKPT = "reports/default/classifier.pt"
TARGETS = {"pte_int8_vs_eager_fp32_1t": 2.0, "spectrogram_fraction": 0.05}


def timings(fn, windows: np.ndarray, runs: int, warmup: int) -> dict:
    """Median / p99 / mean ms of ``fn(window)`` over ``runs`` calls (windows cycled) after ``warmup`` calls."""
    for i in range(warmup):
        fn(windows[i % len(windows)])
    ts = np.empty(runs)
    for i in range(runs):
        w = windows[i % len(windows)]
        t0 = time.perf_counter()
        fn(w)
        ts[i] = time.perf_counter() - t0
    ts *= 1000.0
    return {"median_ms": float(np.median(ts)), "p99_ms": float(np.percentile(ts, 99)), "mean_ms": float(ts.mean()),
            "runs": runs}


def find_bundles(dirs) -> list[Path]:
    out = []
    for d in map(Path, dirs):
        if (d / "imuedge.json").is_file():
            out.append(d)
        else:
            out += sorted(p.parent for p in d.glob("*/imuedge.json"))
    return out


def hapt_test(window) -> tuple[np.ndarray, np.ndarray]:
    from imuedge.data import load_hapt_windows

    test = load_hapt_windows(channels=tuple(window.channels), window=window.window, hop=window.hop, seed=0)["test"]
    return test.x.astype(np.float32), test.y.astype(np.int64)


def scores(pred: np.ndarray, y: np.ndarray, k: int) -> dict:
    from imuedge.train.metrics import macro_f1

    return {"macro_f1": float(macro_f1(y, pred, k)), "accuracy": float(np.mean(pred == y)), "windows": int(len(y))}


# ---- peak RSS, one subprocess per bundle ------------------------------------------------------------------

def rss_probe(bundle: str, threads: int) -> None:
    """(subprocess) import the runtimes, note RSS, load the bundle, run 50 windows, print JSON of RSS."""
    import numpy  # noqa: F401
    from imuedge.export import load_bundle
    from imuedge.bundle import read_manifest

    manifest, _ = read_manifest(bundle)
    fmt = manifest["format"]
    if fmt == "pte":
        import executorch.runtime  # noqa: F401
    elif fmt == "tflite":
        import ai_edge_litert.interpreter  # noqa: F401
    elif fmt == "onnx":
        import onnxruntime  # noqa: F401
    before = peak_rss_mb()
    p = load_bundle(bundle, threads=threads)
    x = np.random.default_rng(0).normal(size=(8, *p.input_shape)).astype(np.float32)
    for i in range(50):
        p.predict(x[i % 8])
    peak = peak_rss_mb()
    print(json.dumps({"peak_rss_mb": peak, "after_imports_mb": before, "growth_mb": peak - before}))


def python_json(args: list[str], timeout: int = 600) -> dict:
    """Run ``python ARGS`` in a fresh process; the last JSON line it prints, or its error."""
    r = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]}


def run_probe(args: list[str], timeout: int = 600) -> dict:
    """``python -m benchmarks.export_bench ARGS`` (a hidden probe mode) in a fresh process."""
    return python_json(["-m", "benchmarks.export_bench", *args], timeout)


def measure_rss(bundle: Path, threads: int) -> dict:
    return run_probe(["--rss-probe", str(bundle), "--threads", str(threads)])


def eager_rss(checkpoint: str) -> dict:
    code = ("import json,torch,numpy as np;from imuedge.export import target_from_checkpoint;"
            "from imuedge.machine import peak_rss_mb;b=peak_rss_mb();"
            f"t=target_from_checkpoint({checkpoint!r});torch.set_num_threads(1);x=torch.zeros(t.example_inputs[0].shape)\n"
            "with torch.no_grad():\n [t.module(x) for _ in range(50)]\n"
            "p=peak_rss_mb();print(json.dumps({'peak_rss_mb':p,'after_imports_mb':b,'growth_mb':p-b}))")
    return python_json(["-c", code])


# ---- the in-graph spectrogram's cost ----------------------------------------------------------------------

def without_spectrogram(target, window: np.ndarray):
    """``target`` with its spectrogram replaced by a fixed image (the spectrogram of ``window``) plus one input sample."""
    import copy
    import dataclasses

    import torch

    class FixedImage(torch.nn.Module):
        def __init__(self, image):
            super().__init__()
            self.register_buffer("image", image)

        def forward(self, x):  # one add over the image ties it to the input
            return self.image + x[:, :1, :1].reshape(-1, *([1] * (self.image.dim() - 1)))

    module = copy.deepcopy(target.module)
    with torch.no_grad():
        image = module.encoder.spectrogram(torch.as_tensor(window[None], dtype=torch.float32))
    module.encoder.spectrogram = FixedImage(image.clone())
    return dataclasses.replace(target, module=module.eval())


def spectrogram_share(target, calibration: np.ndarray, x: np.ndarray, rounds: int, warmup: int,
                      workdir: Path) -> dict:
    """The model with and without its spectrogram, .pte fp32 and int8, 1 thread, each pair timed alternating (paired)."""
    from executorch.runtime import Runtime
    import torch

    from imuedge.export.pte import export_pte
    from imuedge.quiet import quiet_runtime

    if getattr(getattr(target.module, "encoder", None), "spectrogram", None) is None:
        return {"note": "model has no encoder.spectrogram"}
    set_pte_threads(1)
    methods = {}
    for variant, t in (("with", target), ("without", without_spectrogram(target, x[0]))):
        for precision in ("fp32", "int8"):
            path = workdir / f"{variant}-{precision}.pte"
            with quiet_runtime():  # the exporter's own filter: torch's LeafSpec FutureWarning, 18 lines per run
                export_pte(t, precision, calibration, path)
            methods[(variant, precision)] = Runtime.get().load_program(path).load_method("forward")
    windows = [torch.from_numpy(np.ascontiguousarray(w[None])) for w in x[:64]]
    out: dict = {"threads": 1, "rounds": rounds, "timing": "per precision, the two programs alternated call by call"}
    for precision in ("fp32", "int8"):
        # One pair at a time, as a device runs one model: a third and fourth program in the loop (the other
        # precision's 2.8 MB or 0.8 MB of weights) would evict this pair's weights from the caches between calls.
        pair = [methods[("with", precision)], methods[("without", precision)]]
        for i in range(warmup):
            for m in pair:
                m.execute((windows[i % len(windows)],))
        ts = np.empty((2, rounds))
        for r in range(rounds):
            w = windows[r % len(windows)]
            for k in ((0, 1) if r % 2 else (1, 0)):  # alternate which runs first
                t0 = time.perf_counter()
                pair[k].execute((w,))
                ts[k, r] = (time.perf_counter() - t0) * 1000.0
        full, rest = ts
        diff = float(np.median(full - rest))
        out[precision] = {"with_median_ms": float(np.median(full)), "without_median_ms": float(np.median(rest)),
                          "spectrogram_ms": diff, "fraction": diff / float(np.median(full))}
    return out


def measure_share(checkpoint: str, rounds: int, warmup: int) -> dict:
    """``spectrogram_share`` in a fresh process that loads only this model pair.

    In the benchmark's own process, after six bundles in four runtimes had run, the same
    measurement gave 5.6-7.6% for the int8 share where a fresh process beside it, minutes apart,
    gave 4.2-4.3% (its with-model as slow or slower); a device runs one model in one runtime.
    """
    return run_probe([checkpoint, "--share-probe", "--runs", str(rounds), "--warmup", str(warmup)], timeout=1800)


def share_probe(checkpoint: str, rounds: int, warmup: int) -> None:
    from imuedge.export import target_from_checkpoint
    from imuedge.export.cli import load_windows

    target = target_from_checkpoint(checkpoint)
    calibration, x, _, _ = load_windows("hapt", target.window, 200, 64)
    with tempfile.TemporaryDirectory() as tmp:
        out = spectrogram_share(target, calibration, x, rounds, warmup, Path(tmp))
    out["process"] = "a fresh process with only this model pair loaded"
    print(json.dumps(out))


def spectrogram_cost(target, x: np.ndarray, runs: int, warmup: int, workdir: Path) -> dict:
    """Spectrogram alone vs backbone+head alone vs full model: .pte fp32 (XNNPACK) and eager, 1 thread."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    from imuedge.quiet import quiet_runtime

    module = target.prepared_module()
    spec = getattr(getattr(module, "encoder", None), "spectrogram", None)
    if spec is None:
        return {"note": "model has no encoder.spectrogram"}

    class Rest(torch.nn.Module):  # backbone + head on precomputed images
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, images):
            b, s = images.shape[:2]
            emb = self.m.encoder.forward_images(images.flatten(0, 1)).reshape(b, -1)
            return self.m.head(emb) if hasattr(self.m, "head") else emb

    class InGraph(torch.nn.Module):  # the spectrogram without returning its image (see module docstring)
        def __init__(self, s):
            super().__init__()
            self.s = s

        def forward(self, w):
            return self.s(w).flatten(1, 2).mean(dim=(-2, -1), keepdim=True)

    xt = torch.from_numpy(x[:16])
    with torch.no_grad():
        images = spec(xt)
    parts = {"spectrogram": (spec, xt), "spectrogram_in_graph": (InGraph(spec), xt),
             "backbone_head": (Rest(module), images), "full": (module, xt)}
    torch.set_num_threads(1)
    set_pte_threads(1)
    out: dict = {"threads": 1}
    for name, (mod, inp) in parts.items():
        with torch.no_grad():
            eager = timings(lambda w: mod(w[None]), inp, runs, warmup)
        path = workdir / f"{name}.pte"
        with quiet_runtime():  # torch's LeafSpec FutureWarning, 18 lines per run otherwise
            ep = torch.export.export(mod, (inp[:1],))
            path.write_bytes(to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch().buffer)
        method = Runtime.get().load_program(path).load_method("forward")
        pte = timings(lambda w: method.execute((w[None],)), inp, runs, warmup)
        out[name] = {"eager_fp32": eager, "pte_fp32": pte}
    for kind in ("eager_fp32", "pte_fp32"):
        full = out["full"][kind]["median_ms"]
        out[f"fraction_{kind}"] = out["spectrogram_in_graph"][kind]["median_ms"] / full
        out[f"fraction_returning_image_{kind}"] = out["spectrogram"][kind]["median_ms"] / full
    return out


# ---- main -------------------------------------------------------------------------------------------------

def warm_runtimes(formats) -> None:
    """Import each runtime (and start ExecuTorch's) before timing, so "load" is the model's own load time."""
    if "pte" in formats:
        from executorch.runtime import Runtime
        Runtime.get()
    if "tflite" in formats:
        import ai_edge_litert.interpreter  # noqa: F401
    if "onnx" in formats:
        import onnxruntime  # noqa: F401


def export_default(checkpoint: str, out: Path, log) -> Path:
    from imuedge.cli import main as cli_main

    log(f"[bench] exporting {checkpoint} -> {out} (all formats x precisions, HAPT calibration)")
    rc = cli_main(["export", checkpoint, "--out", str(out)])
    if rc != 0:
        log(f"[bench] warning: some formats were refused (see {out}/export_summary.json)")
    return out


def test_windows(window, n: int) -> tuple[np.ndarray, np.ndarray]:
    """HAPT test windows (``n`` of them, a fixed random subset, when 0 < n < all)."""
    x, y = hapt_test(window)
    if n and n < len(x):
        idx = np.sort(np.random.default_rng(0).choice(len(x), n, replace=False))
        x, y = x[idx], y[idx]
    return x, y


def model_rows(checkpoint: str, bundle_dirs, a, all_threads: int, log, prefix: str = "") -> list[dict]:
    """The PyTorch eager fp32 row and one row per bundle of one checkpoint; names prefixed by ``prefix``."""
    import torch

    from imuedge.export import load_bundle, target_from_checkpoint

    target = target_from_checkpoint(checkpoint)
    x, y = test_windows(target.window, a.windows)
    k = len(target.output.get("class_names", [])) or int(y.max()) + 1
    lat_windows = x[:64]
    bundles = find_bundles(bundle_dirs)
    warm_runtimes({json.loads((b / "imuedge.json").read_text())["format"] for b in bundles})
    rows = []

    # PyTorch eager fp32: the reference row
    log(f"[bench] {prefix}PyTorch eager fp32")
    xt = torch.from_numpy(lat_windows)
    row = {"name": f"{prefix}torch-eager-fp32", "format": "torch eager", "precision": "fp32", "bytes": None,
           "checkpoint": relative_path(str(checkpoint))}
    t0 = time.perf_counter()
    module = target_from_checkpoint(checkpoint).module
    row["load_s"] = time.perf_counter() - t0
    with torch.no_grad():
        for th in (1, all_threads):
            torch.set_num_threads(th)
            row[f"latency_{th}t"] = timings(lambda w: module(w[None]), xt, a.runs, a.warmup)
        torch.set_num_threads(all_threads)
        pred = target.reference(x).numpy().argmax(1)
    row["quality"] = scores(pred, y, k)
    row["rss"] = eager_rss(checkpoint) if not a.no_rss else None
    rows.append(row)

    for b in bundles:
        manifest = json.loads((b / "imuedge.json").read_text())
        name = f"{prefix}{manifest['format']}-{manifest['precision']}"
        log(f"[bench] {name} ({b})")
        row = {"name": name, "format": manifest["format"], "precision": manifest["precision"], "bundle": str(b),
               "bytes": manifest["artifact"]["bytes"], "parity": {k2: manifest.get("parity", {}).get(k2) for k2 in
                                                                   ("max_abs_error", "top1_agreement", "windows")},
               "delegated_op_coverage": manifest.get("backend", {}).get("delegated_op_coverage"),
               "int8_form": (manifest.get("quantization") or {}).get("form"),
               "int8_note": (manifest.get("quantization") or {}).get("note")}
        for th in (1, all_threads):
            t0 = time.perf_counter()
            p = load_bundle(b, threads=th)
            load_s = time.perf_counter() - t0
            if th == 1:
                row["load_s"] = load_s
            row[f"latency_{th}t"] = timings(p.predict, lat_windows, a.runs, a.warmup)
        pred = p.predict(x).argmax(1)
        row["quality"] = scores(pred, y, k)
        row["rss"] = measure_rss(b, 1) if not a.no_rss else None
        rows.append(row)
        del p
    return rows


def int8_vs_fp32(rows: list[dict]) -> list[dict]:
    """Per model and format: fp32 median over int8 median, 1 thread (> 1: the int8 bundle is faster)."""
    by = {r["name"]: r for r in rows}
    out = []
    for r in rows:
        if r["precision"] == "int8" and r["name"].replace("-int8", "-fp32") in by:
            f = by[r["name"].replace("-int8", "-fp32")]
            out.append({"model": r["name"][:-len("-int8")], "fp32_median_ms": f["latency_1t"]["median_ms"],
                        "int8_median_ms": r["latency_1t"]["median_ms"],
                        "speedup": f["latency_1t"]["median_ms"] / r["latency_1t"]["median_ms"],
                        "int8_form": r.get("int8_form"), "int8_note": r.get("int8_note")})
    return out


def run(a) -> dict:
    log = lambda *m: print(*m, file=sys.stderr, flush=True)  # noqa: E731
    all_threads = a.all_threads or machine()["usable_cores"]
    from imuedge.export import target_from_checkpoint

    target = target_from_checkpoint(a.checkpoint)
    x, y = test_windows(target.window, a.windows)
    bundle_dirs = a.bundles or [str(export_default(a.checkpoint, Path(a.export_dir), log))]
    rows = model_rows(a.checkpoint, bundle_dirs, a, all_threads, log)
    for label, checkpoint, bundles in a.also:
        rows += model_rows(checkpoint, [bundles], a, all_threads, log, prefix=f"{label}/")

    log("[bench] spectrogram cost")
    with tempfile.TemporaryDirectory() as tmp:
        spectro = spectrogram_cost(target, x, a.runs, a.warmup, Path(tmp))
    share = measure_share(a.checkpoint, max(a.runs, 1000), a.warmup)

    by = {r["name"]: r for r in rows}
    med = lambda n, th=1: by[n][f"latency_{th}t"]["median_ms"] if n in by else None  # noqa: E731
    ratios = {}
    if med("pte-int8"):
        ratios["pte_int8_vs_eager_fp32_1t"] = med("torch-eager-fp32") / med("pte-int8")
        ratios[f"pte_int8_vs_eager_fp32_{all_threads}t"] = (med("torch-eager-fp32", all_threads)
                                                             / med("pte-int8", all_threads))
        if med("onnx-int8"):
            ratios["pte_int8_vs_onnx_int8_1t"] = med("onnx-int8") / med("pte-int8")
        if med("pte-fp32"):
            ratios["pte_int8_vs_pte_fp32_1t"] = med("pte-fp32") / med("pte-int8")
    for fmt in ("pte", "tflite", "onnx"):
        if by.get(f"{fmt}-int8", {}).get("bytes") and by.get(f"{fmt}-fp32", {}).get("bytes"):
            ratios[f"{fmt}_int8_size_ratio"] = by[f"{fmt}-int8"]["bytes"] / by[f"{fmt}-fp32"]["bytes"]
    ratios["int8_vs_fp32_1t"] = int8_vs_fp32(rows)
    ratios["spectrogram_fraction"] = share.get("fp32", {}).get("fraction")
    ratios["spectrogram_fraction_of_pte_int8_1t"] = share.get("int8", {}).get("fraction")
    result = {"machine": machine(), "checkpoint": relative_path(str(a.checkpoint)), "threads": {"single": 1, "all": all_threads},
              "statistic": f"median and p99 of {a.runs} single-window runs after {a.warmup} warm-up runs",
              "quality_data": f"HAPT test split ({len(y)} windows, subject-disjoint)", "rows": rows,
              "spectrogram_cost": spectro, "spectrogram_share": share, "ratios": ratios, "targets": TARGETS,
              "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "export_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "export_bench.md").write_text(markdown(result, a.note))
    chart(result, out / "export_bench.png")
    log(f"[bench] wrote {out}/export_bench.json, .md, .png")
    return result


def _f(v, fmt="{:.2f}"):
    return "–" if v is None else fmt.format(v)


def markdown(r: dict, note: str = "") -> str:
    m, th = r["machine"], r["threads"]["all"]
    lines = ["# Export benchmark", "",
             f"Machine: {m['cpu']}{' (' + ', '.join(m['cpu_flags']) + ')' if m.get('cpu_flags') else ''}, "
             f"{m['cores']} logical cores ({m['usable_cores']} usable); "
             f"{m['platform']}, Python {m['python']}. {r['date']}.",
             f"Latency: {r['statistic']} (batch 1, one window = 128 samples x channels), in one process; "
             f"numbers are MEDIANS (p99 beside). 1t = one thread, {th}t = all usable threads.",
             f"Quality: {r['quality_data']}. Checkpoint: `{r['checkpoint']}`. Load: reading and initialising "
             f"the model, runtimes already imported (PyTorch row: rebuilding the checkpoint).", ""]
    if note:
        lines += [note, ""]
    lines += [f"| model | size (KB) | load (ms) | median 1t (ms) | p99 1t (ms) | median {th}t (ms) | "
              f"p99 {th}t (ms) | peak RSS (MB) | RSS growth (MB) | macro-F1 | accuracy | speed-up vs eager 1t | "
              f"XNNPACK op coverage |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ref = None
    for row in r["rows"]:
        l1, ln = row["latency_1t"], row[f"latency_{th}t"]
        if row["format"] == "torch eager":  # each model's own eager row is its reference
            ref = l1["median_ms"]
        rss = row.get("rss") or {}
        lines.append(f"| {row['name']} | {_f(row['bytes'] and row['bytes'] / 1024, '{:.0f}')} | "
                     f"{_f(row['load_s'] * 1000, '{:.0f}')} | {l1['median_ms']:.2f} | {l1['p99_ms']:.2f} | "
                     f"{ln['median_ms']:.2f} | {ln['p99_ms']:.2f} | {_f(rss.get('peak_rss_mb'), '{:.0f}')} | "
                     f"{_f(rss.get('growth_mb'), '{:.1f}')} | {row['quality']['macro_f1']:.4f} | "
                     f"{row['quality']['accuracy']:.4f} | {ref / l1['median_ms']:.2f}x | "
                     f"{_f(row.get('delegated_op_coverage'), '{:.0%}')} |")
    checkpoints = {row["name"].split("/")[0]: row["checkpoint"] for row in r["rows"]
                   if row["format"] == "torch eager" and "/" in row["name"]}
    if checkpoints:
        lines += ["", "Rows without a prefix: `" + r["checkpoint"] + "`; " + "; ".join(
            f"`{k}/`: `{v}`" for k, v in checkpoints.items()) + ". XNNPACK op coverage: the share of the .pte's "
            "ops that run in the XNNPACK delegate (– for other formats)."]
    pairs = r["ratios"].get("int8_vs_fp32_1t") or []
    if pairs:
        lines += ["", "## int8 vs fp32, same format, 1 thread (medians)", "",
                  "| model | fp32 (ms) | int8 (ms) | int8 speed-up | int8 faster? |", "|---|---:|---:|---:|---|"]
        for q in pairs:
            lines.append(f"| {q['model']} | {q['fp32_median_ms']:.2f} | {q['int8_median_ms']:.2f} | "
                         f"{q['speedup']:.2f}x | {'yes' if q['speedup'] > 1 else '**no**'} |")
        slower = [q for q in pairs if q["speedup"] <= 1]
        if slower:
            lines += ["", "Where int8 is not faster, what its bundle's manifest says (quantization.note): " + "; ".join(
                f"**{q['model']}**: {q.get('int8_note') or 'no note (this exporter records none)'}" for q in slower)]
        forms = {q["int8_form"] for q in pairs if q.get("int8_form")}
        if forms:
            lines += ["", f"The int8 .onnx form: {', '.join(sorted(forms))} (`export/onnx_export.py`, INT8_NOTE); "
                      f"every int8 ONNX form measured side by side against fp32, with parity: "
                      f"`benchmarks/results/onnx_int8/onnx_int8_bench.md`."]
    sh = r.get("spectrogram_share", {})
    if "error" in sh:
        lines += ["", f"The spectrogram's share could not be measured: {sh['error']}"]
    if "int8" in sh:
        lines += ["", "## The in-graph spectrogram's share: the model with and without it (.pte, 1 thread)", "",
                  "| precision | with (ms) | without (ms) | spectrogram (ms) | share of the model |",
                  "|---|---:|---:|---:|---:|"]
        for precision in ("fp32", "int8"):
            v = sh[precision]
            lines.append(f"| {precision} | {v['with_median_ms']:.3f} | {v['without_median_ms']:.3f} | "
                         f"{v['spectrogram_ms']:.3f} | {v['fraction']:.1%} |")
        lines += ["", f"Both exported by the same code; 'without': the spectrogram replaced by a fixed image plus one "
                  f"input sample (one add over the image: the difference under-states the spectrogram by that "
                  f"pass). Measured in a fresh process holding only this pair. Per precision the two "
                  f"programs alternate call by call ({sh['rounds']} rounds, which runs first alternating); "
                  f"'spectrogram' is the median of the paired differences, the share is that over 'with'. "
                  f"In the int8 model the spectrogram and the stem conv stay float32."]
    s = r["spectrogram_cost"]
    if "spectrogram" in s:
        lines += ["", "## Parts timed alone (info; 1 thread, fp32, medians)", "",
                  "| part | eager fp32 (ms) | .pte fp32 XNNPACK (ms) |", "|---|---:|---:|"]
        names = {"spectrogram": "spectrogram, image returned", "spectrogram_in_graph": "spectrogram, in graph",
                 "backbone_head": "backbone + head (images in)", "full": "full model"}
        for part, label in names.items():
            if part in s:
                lines.append(f"| {label} | {s[part]['eager_fp32']['median_ms']:.3f} | "
                             f"{s[part]['pte_fp32']['median_ms']:.3f} |")
        lines.append(f"| spectrogram in graph / full | {s['fraction_eager_fp32']:.1%} | {s['fraction_pte_fp32']:.1%} |")
        lines += ["", "Separate programs, so each pays its own call and layout conversions. 'In graph': the "
                  "spectrogram followed by a mean of each image plane (the mean and the transpose before it "
                  "add time that the model does not pay); 'image returned' hands the spectrogram images back "
                  "to Python instead."]
    ra = r["ratios"]
    lines += ["", "## Targets", "", "| quantity | measured | target | met |", "|---|---:|---:|---|"]

    def target_line(label, key, target, higher=True, pct=False):
        v = ra.get(key)
        if v is None:
            lines.append(f"| {label} | – | {target} | not measured |")
            return
        ok = v >= target if higher else v <= target
        val = f"{v:.1%}" if pct else f"{v:.2f}x"
        tgt = f"<= {target:.0%}" if pct else f">= {target:g}x"
        lines.append(f"| {label} | {val} | {tgt} | {'yes' if ok else '**NO (missed)**'} |")

    target_line("int8 .pte vs PyTorch eager fp32, 1 thread", "pte_int8_vs_eager_fp32_1t", 2.0)
    target_line("spectrogram / whole model, fp32 .pte (with vs without, 1 thread)", "spectrogram_fraction", 0.05,
                False, True)
    target_line("spectrogram / whole model, int8 .pte (with vs without, 1 thread)",
                "spectrogram_fraction_of_pte_int8_1t", 0.05, False, True)
    for key, label in (("pte_int8_vs_onnx_int8_1t", "int8 .pte vs ORT int8, 1 thread (info)"),
                       (f"pte_int8_vs_eager_fp32_{th}t", f"int8 .pte vs eager fp32, {th} threads (info)"),
                       ("pte_int8_vs_pte_fp32_1t", "int8 .pte vs fp32 .pte, 1 thread (info)")):
        if key in ra:
            lines.append(f"| {label} | {ra[key]:.2f}x | – | – |")
    for fmt in ("pte", "tflite", "onnx"):
        target_line(f"{fmt} int8 size / fp32 size", f"{fmt}_int8_size_ratio", 0.35, False, True)
    lines += ["", "Ratios > 1 mean the int8 .pte is faster. RSS: each bundle loaded and run (50 windows) in its "
              "own subprocess; peak = VmHWM of that process (imports included), growth = peak minus the peak "
              "after importing its runtime (what loading and running the model adds).", ""]
    return "\n".join(lines)


def chart(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    th = r["threads"]["all"]
    names = [row["name"] for row in r["rows"]]
    one = [row["latency_1t"]["median_ms"] for row in r["rows"]]
    many = [row[f"latency_{th}t"]["median_ms"] for row in r["rows"]]
    pos = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.bar(pos - 0.2, one, 0.4, label="1 thread")
    ax.bar(pos + 0.2, many, 0.4, label=f"{th} threads")
    ax.set_xticks(pos, names, rotation=20)
    ax.set_ylabel("median latency per window (ms)")
    m = r["machine"]
    ax.set_title(f"imuedge export bundles, batch 1 (medians) -- {m['cpu']}, {m['usable_cores']} cores", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default=DEFAULT_CKPT, help=f"classifier checkpoint (default {DEFAULT_CKPT})")
    p.add_argument("bundle_dirs", nargs="*", metavar="BUNDLE_DIR",
                   help="bundle folders or `imuedge export` output folders (default: export CHECKPOINT first)")
    p.add_argument("--bundles", nargs="*", default=None, metavar="DIR",
                   help="bundle folders or `imuedge export` output folders (default: export CHECKPOINT first)")
    p.add_argument("--export-dir", default="reports/export_bench_bundles",
                   help="where to export when no --bundles are given")
    p.add_argument("--out", default="benchmarks/results", help="where export_bench.json/.md/.png go")
    p.add_argument("--runs", type=int, default=200, help="timed runs per row and thread setting (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed warm-up runs (default 20)")
    p.add_argument("--windows", type=int, default=0, help="HAPT test windows for macro-F1 (default: all)")
    p.add_argument("--all-threads", type=int, default=0, help="thread count for the multi-thread column "
                                                               "(default: the usable cores)")
    p.add_argument("--no-rss", action="store_true", help="skip the per-bundle peak-RSS subprocesses")
    p.add_argument("--also", nargs=3, action="append", default=[], metavar=("LABEL", "CHECKPOINT", "BUNDLE_DIR"),
                   help="another classifier and its bundles, measured in the same run; rows named LABEL/format-precision "
                        "(e.g. --also mae MAE_CLASSIFIER.pt MAE_BUNDLES)")
    p.add_argument("--note", default="", help="a line added under the table's header (e.g. machine load)")
    p.add_argument("--rss-probe", default=None, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--share-probe", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.bundles = (a.bundles or []) + a.bundle_dirs
    if a.rss_probe:
        rss_probe(a.rss_probe, a.threads)
        return 0
    if a.share_probe:
        share_probe(a.checkpoint, a.runs, a.warmup)
        return 0
    if not Path(a.checkpoint).is_file():
        p.error(f"checkpoint {a.checkpoint} not found (run `imuedge run` first, or pass a checkpoint path)")
    run(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
