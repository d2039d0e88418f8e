"""The per-operator .pte profile: a real small classifier exported and traced by ExecuTorch's ETDump."""
import numpy as np
import pytest
import torch

from benchmarks.pte_profile import markdown, operators, profile_pte, spectrogram_ops, summary


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    from imuedge.export import ExportTarget
    from imuedge.export.pte import export_pte
    from imuedge.train.encoder import Classifier, IMUEncoder
    from imuedge.window import WindowSpec

    torch.manual_seed(0)
    model = Classifier(IMUEncoder(backbone="edge", backbone_kwargs={"widths": [8, 16], "depths": [1, 1]},
                                  spectrogram={"image_size": [32, 32]}), 3).eval()
    path = tmp_path_factory.mktemp("pte") / "fp32.pte"
    x = np.random.default_rng(0).normal(size=(8, 6, 128)).astype(np.float32)
    export_pte(ExportTarget(model, "classify", WindowSpec(), {"class_names": ["a", "b", "c"]}), "fp32", None, path)
    return profile_pte(path, x, runs=20)


def test_every_operator_is_timed_in_execution_order_with_the_spectrogram_first(profiled):
    names = [o["op"] for o in profiled]
    assert names[-1] == "Method::execute" and "DELEGATE_CALL" in names
    layers = operators(profiled)
    n = spectrogram_ops(layers)
    # the spectrogram: the DFT convolution first, the frequency resize's batch matmul and its reshape last; then
    # the transpose of the images for the stem convolution, which follows
    assert layers[2]["op"].startswith("Convolution") and n > 3
    assert layers[n - 2]["op"].startswith("Batch Matrix Multiply") and layers[n - 1]["op"].startswith("Static Reshape")
    assert layers[n]["op"].startswith("Transpose") and layers[n + 1]["op"].startswith("Convolution")
    assert all(o["mean_us"] >= 0 and o["median_us"] >= 0 for o in profiled)

    s = summary(profiled)
    assert s["operators"] == len(layers) and s["spectrogram_operators"] == n
    assert s["spectrogram_mean_us"] == pytest.approx(sum(o["mean_us"] for o in layers[:n]))
    assert 0 < s["sum_of_operator_means_us"] <= s["execute_median_us"] * 3
    md = markdown({"machine": {"cpu": "test", "cores": 2, "platform": "p", "python": "3.11"}, "command": "c", "runs": 20, "checkpoint": "k",
                   "programs": {"fp32": {"ops": profiled, "summary": s}}})
    assert md.count("| spectrogram |") == n and md.count("| image layout |") == 1


def test_a_model_without_a_spectrogram_has_no_spectrogram_part():
    ops = [{"op": "Convolution (NHWC, F32) IGEMM #1", "median_us": 5.0, "mean_us": 5.0},
           {"op": "Method::execute", "median_us": 6.0, "mean_us": 6.0}]
    assert spectrogram_ops(ops[:1]) == 0
    assert summary(ops)["spectrogram_operators"] == 0 and summary(ops)["image_to_nhwc_mean_us"] is None
