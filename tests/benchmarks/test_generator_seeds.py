"""benchmarks/generator_seeds.py: the evaluation reports of several seeds summarised per sampler."""
import json

import pytest

from benchmarks import generator_seeds as gs


def report(folder, seed, trtr, rows):
    (folder / f"seed{seed}").mkdir(parents=True)
    samplers = {name: {"TSTR_macro_f1": f1, "TSTR_over_TRTR": f1 / trtr, "discriminative_score": d,
                       "network_evaluations_per_window": 4,
                       "frechet_distance": 50.0, "samples_per_second_1_thread": 100.0 * (seed + 1)}
                for name, (f1, d) in rows.items()}
    (folder / f"seed{seed}" / "results.json").write_text(json.dumps(
        {"machine": "m", "per_class": 50, "TRTR_macro_f1": trtr, "samplers": samplers}))


def test_each_samplers_metrics_are_summarised_over_the_seeds_it_has(tmp_path):
    report(tmp_path, 0, 0.8, {"a": (0.6, 0.3), "b": (0.5, 0.4)})
    report(tmp_path, 1, 0.7, {"a": (0.7, 0.2)})
    report(tmp_path, 2, 0.9, {"a": (0.8, 0.1)})
    assert gs.main([str(tmp_path)]) == 0
    r = json.loads((tmp_path / "seeds.json").read_text())
    assert r["seeds"] == [0, 1, 2] and r["TRTR_macro_f1"]["mean"] == pytest.approx(0.8)
    a = r["samplers"]["a"]
    assert a["TSTR_macro_f1"]["values"] == [0.6, 0.7, 0.8] and a["TSTR_macro_f1"]["mean"] == pytest.approx(0.7)
    assert a["TSTR_macro_f1"]["std"] == pytest.approx(0.1) and a["discriminative_score"]["median"] == 0.2
    assert r["samplers"]["b"]["seeds"] == [0] and r["samplers"]["b"]["TSTR_macro_f1"]["std"] == 0.0
    assert a["network_evaluations_per_window"] == 4
    md = (tmp_path / "seeds.md").read_text()
    assert "| a | 3 | 0.700 ± 0.100 (median 0.700)" in md and "| b | 1 |" in md


def test_a_folder_without_reports_is_one_line_of_error(tmp_path, capsys):
    assert gs.main([str(tmp_path)]) == 2
    assert "no seed*/results.json" in capsys.readouterr().err


def test_a_seeds_report_written_elsewhere_counts_once_and_is_named(tmp_path, capsys):
    report(tmp_path / "runs", 1, 0.8, {"a": (0.6, 0.3)})
    report(tmp_path / "before", 0, 0.6, {"a": (0.8, 0.1)})
    assert gs.main([str(tmp_path / "runs"), "--seed", f"0={tmp_path / 'before' / 'seed0'}"]) == 0
    r = json.loads((tmp_path / "runs" / "seeds.json").read_text())
    assert r["seeds"] == [0, 1] and r["samplers"]["a"]["TSTR_macro_f1"]["values"] == [0.8, 0.6]
    assert r["seeds_elsewhere"] == {"0": str(tmp_path / "before" / "seed0")}
    assert f"--seed 0={tmp_path / 'before' / 'seed0'}" in (tmp_path / "runs" / "seeds.md").read_text()
    assert gs.main([str(tmp_path / "runs"), "--seed", f"1={tmp_path / 'before' / 'seed0'}"]) == 2  # seed 1 twice
    assert "seed 1 is both" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gs.main([str(tmp_path / "runs"), "--seed", "zero"])


def test_the_motion_table_is_averaged_over_seeds_and_skipped_where_a_report_lacks_it(tmp_path):
    for seed, sitting in ((0, 2.0), (1, 4.0)):
        report(tmp_path, seed, 0.8, {"a": (0.6, 0.3), "old": (0.5, 0.4)})
        path = tmp_path / f"seed{seed}" / "results.json"
        r = json.loads(path.read_text())
        r["samplers"]["a"]["motion_vs_real"] = {"walking": {"acc": 0.8, "gyro": 0.7},
                                                "sitting": {"acc": sitting, "gyro": 1.0 + seed}}
        path.write_text(json.dumps(r))
    assert gs.main([str(tmp_path)]) == 0
    r = json.loads((tmp_path / "seeds.json").read_text())
    assert r["samplers"]["a"]["motion_vs_real"]["sitting"]["acc"]["mean"] == pytest.approx(3.0)
    assert "motion_vs_real" not in r["samplers"]["old"]
    md = (tmp_path / "seeds.md").read_text()
    assert "| sampler | walking | sitting |" in md
    assert "| a | 0.80 / 0.70 | 3.00 / 1.50 |" in md and "| old |" not in md.split("How much")[1]
