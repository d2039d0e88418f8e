"""benchmarks/browser_bench.py --merge: phone (benchmark page), host and ExecuTorch rows in one table."""
import json

import pytest

from benchmarks.browser_bench import device_rows, merge_table

PAGE = {"schema": "imuedge-browser-bench", "schema_version": 1,
        "machine": {"device_model": "Pixel 7", "platform": "Android", "browser": "Google Chrome 140.0", "simd": True},
        "rows": [{"name": "onnx-int8", "runtime": "onnxruntime-web 1.31.1 (wasm)", "threads": 1,
                  "latency": {"median_ms": 7.5, "p95_ms": 9.25, "p99_ms": 12.0}}]}
HOST = {"machine": {"cpu": "AMD EPYC"}, "rows": [{"name": "pte-int8", "format": "pte",
                                                   "latency_1t": {"median_ms": 0.59}}]}
EXECUTORCH = [{"benchmarkModel": {"name": "model", "backend": "xnnpack", "quantization": "int8"},
               "metric": "avg_inference_latency(ms)", "actualValue": 3.5, "deviceInfo": {"device": "Pixel 7", "os": "Android 15"}},
              {"benchmarkModel": {"name": "model"}, "metric": "model_load_time(ms)", "actualValue": 40.0}]


def test_merge_reads_each_kind(tmp_path):
    files = []
    for name, d in (("page.json", PAGE), ("host.json", HOST), ("benchmark_results.json", EXECUTORCH)):
        (tmp_path / name).write_text(json.dumps(d))
        files.append(tmp_path / name)
    rows = [r for f in files for r in device_rows(f)]
    assert [(r["device"], r["bundle"], r["median_ms"]) for r in rows] == [
        ("Pixel 7", "onnx-int8", 7.5), ("AMD EPYC", "pte-int8", 0.59), ("Pixel 7 Android 15", "model", 3.5)]
    text = merge_table(files)
    assert "| Pixel 7 | onnx-int8 | onnxruntime-web 1.31.1 (wasm) in Google Chrome 140.0 | 7.500 | 9.250 |" in text
    assert "ExecuTorch xnnpack" in text and "model_load_time" not in text


def test_merge_refuses_an_unknown_file(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a benchmark-page"):
        device_rows(tmp_path / "x.json")
