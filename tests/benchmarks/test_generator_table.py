"""benchmarks/generator_table.py: one row per generator and sampler, every cell read from a raw result."""
import json

from benchmarks import generator_seeds, generator_table as gt


def seeds_summary(folder, names):
    for seed, f1 in enumerate((0.6, 0.7, 0.8)):
        (folder / f"seed{seed}").mkdir(parents=True)
        samplers = {name: {"TSTR_macro_f1": f1, "TSTR_over_TRTR": f1 / 0.8, "discriminative_score": 0.3,
                           "frechet_distance": 50.0, "network_evaluations_per_window": nfe}
                    for name, nfe in names.items()}
        (folder / f"seed{seed}" / "results.json").write_text(json.dumps(
            {"machine": "m", "per_class": 50, "TRTR_macro_f1": 0.8, "samplers": samplers}))
    assert generator_seeds.main([str(folder)]) == 0
    return str(folder / "seeds.json")


def gain(values):
    return {"mean": sum(values) / len(values), "std": 0.01, "per_seed": values}


def test_each_generators_rows_carry_quality_augmentation_on_the_4_step_row_and_speed(tmp_path):
    seeds = seeds_summary(tmp_path / "s", {"x DDIM 10": 20, "x student 4-step": 4, "x student 1-step": 1})
    aug = tmp_path / "aug.json"
    aug.write_text(json.dumps({"cells": [
        {"protocol": "few_subjects", "k": 2, "synthetic": {"0.5": {"gain": gain([0.01] * 5)},
                                                           "1": {"gain": gain([0.02] * 5)}}},
        {"protocol": "few_labels", "n": 10, "synthetic": {"1": {"gain": gain([-0.05, -0.03])}}}]}))
    speed = tmp_path / "speed.json"
    speed.write_text(json.dumps({"machine": "M", "batch": 16, "command": "c",
                                 "samplers": {"x student 1-step": {"samples_per_second_1_threads": 2000.0}},
                                 "bundles": {"b/x1/onnx-fp32": {"ms_per_window_1_thread": 0.25},
                                             "b/x1/pte-fp32": {"ms_per_window_1_thread": 0.5}}}))
    sources = (gt.Source("X", seeds, "3 seeds", str(aug), "b/x1", "x "),
               gt.Source("Y", str(tmp_path / "none.json"), "-", str(tmp_path / "none2.json"), "b/y1", "y "))
    t = gt.table(sources, str(speed))
    rows = {r["sampler"]: r for r in t["rows"]}
    assert list(rows) == ["x DDIM 10", "x student 4-step", "x student 1-step"]  # Y has no rows: its files are missing
    assert t["missing"] == [str(tmp_path / "none.json"), str(tmp_path / "none2.json")]
    assert abs(rows["x DDIM 10"]["TSTR_macro_f1"]["mean"] - 0.7) < 1e-12 and rows["x DDIM 10"]["TSTR_macro_f1"]["seeds"] == 3
    assert rows["x DDIM 10"]["network_evaluations_per_window"] == 20
    four = rows["x student 4-step"]["augmentation_gain"]
    assert four["few_subjects k=2 1x"]["mean"] == 0.02 and four["few_labels n=10 5x"] is None
    assert rows["x DDIM 10"]["augmentation_gain"] is None and rows["x student 1-step"]["augmentation_gain"] is None
    assert rows["x student 1-step"]["exported_ms_per_window_1_thread"] == {"onnx": 0.25, "tflite": None, "pte": 0.5}
    md = gt.markdown(t)
    assert "| +0.010 ± 0.010 / +0.020 ± 0.010 | -0.040 ± 0.010 / - (2 seeds) |" in md
    assert "| 2,000 | 0.250 / - / 0.500 |" in md and "Missing sources" in md
