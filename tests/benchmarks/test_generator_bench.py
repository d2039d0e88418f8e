"""benchmarks/generator_bench.py on the shipped latent generator: every sampler timed side by side, the table
says "-" where there is no DDPM chain to compare with, and an exported bundle gets its per-window latency."""
import json

import pytest

from benchmarks import generator_bench
from imuedge.train.diffusion.export import export_student

W = "train/weights"


@pytest.fixture
def one_thread():
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)  # the benchmark sets 1 thread, then all


def test_a_run_without_the_ddpm_chain_times_every_sampler_and_bundle(tmp_path, one_thread):
    export_student(f"{W}/latent_student_1.pt", tmp_path / "b", formats=("onnx",), log=lambda *a: None)
    assert generator_bench.main(["--latent", f"{W}/latent_generator.pt", "--students", f"{W}/latent_student_1.pt",
                                 "--skip-ddpm", "--batch", "4", "--repeats", "1", "--bundles", str(tmp_path / "b"),
                                 "--out", str(tmp_path / "o")]) == 0
    res = json.loads((tmp_path / "o" / "generator_bench.json").read_text())
    assert set(res["samplers"]) == {"latent DDIM 10", "latent DDIM 4", "latent student 1-step"}
    assert res["samplers"]["latent DDIM 10"]["network_evaluations_per_window"] == 20
    assert all(r["samples_per_second_1_threads"] > 0 and "speed_up_vs_ddpm_1_thread" not in r
               for r in res["samplers"].values())
    assert res["bundles"]["onnx-fp32"]["steps"] == 1 and res["bundles"]["onnx-fp32"]["ms_per_window_1_thread"] > 0
    rows = [line for line in (tmp_path / "o" / "generator_bench.md").read_text().splitlines()
            if line.startswith("| latent")]
    assert len(rows) == 3 and all(row.endswith("| - |") for row in rows)  # not "-x": there is no DDPM chain
