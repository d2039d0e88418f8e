"""User CSV recordings: units, timing, labels, and malformed files named by file/line/column."""
import numpy as np
import pytest

from imuedge.data import Recording, RecordingFormatError, RecordingWarning, load_recordings, write_recording_csv
from imuedge.window import DEG_TO_RAD, STANDARD_GRAVITY

HEADER = "timestamp,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z,label,subject"


def rows(n, label="walking", subject=1, t0=0.0, rate=50.0, acc=(0.0, 0.0, 9.8)):
    return [f"{t0 + i / rate:.4f},{acc[0]},{acc[1]},{acc[2]},0.1,0.2,0.3,{label},{subject}" for i in range(n)]


def write(folder, name, lines):
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_good_file_units_order_labels_and_rate(tmp_path):
    write(tmp_path, "a.csv", ["gyro_z[dps],acc_x[g],label,acc_y[g],acc_z[g],gyro_x[dps],gyro_y[dps],subject"]
          + [f"90,1,{lab},0,0,0,0,4" for lab in ("sit", "sit", "", "stand")])
    ds, errors = load_recordings(tmp_path, rate=25)
    assert errors == []
    rec = ds.recordings[0]
    assert rec.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")  # canonical order
    assert rec.data[0, 0] == pytest.approx(STANDARD_GRAVITY)  # g -> m/s^2
    assert rec.data[5, 0] == pytest.approx(90 * DEG_TO_RAD)  # dps -> rad/s
    assert (rec.subject, rec.recording_id, rec.sample_rate_hz) == (4, "a", 25.0)
    assert ds.label_names == {0: "sit", 1: "stand"}
    assert rec.labels.tolist() == [0, 0, -1, 1]


def test_units_from_options_and_conflicts(tmp_path):
    write(tmp_path, "a.csv", ["acc_x,acc_y,acc_z"] + ["0,0,1"] * 3)
    ds, _ = load_recordings(tmp_path, rate=50, acc_unit="g")
    assert ds.recordings[0].data[2, 0] == pytest.approx(STANDARD_GRAVITY)
    with pytest.raises(ValueError, match="unknown acc_unit 'furlong'"):
        load_recordings(tmp_path, rate=50, acc_unit="furlong")
    write(tmp_path, "a.csv", ["acc_x[g],acc_y,acc_z"] + ["0,0,1"] * 3)
    _, errors = load_recordings(tmp_path, rate=50, acc_unit="m/s2")
    assert (errors[0].line, errors[0].column) == (1, "acc_x")
    assert "header says 'g'" in str(errors[0])


def test_unit_that_looks_wrong_warns(tmp_path):
    write(tmp_path, "a.csv", ["acc_x,acc_y,acc_z"] + ["0,0,1"] * 3)  # 1 "m/s^2" of gravity: surely g
    with pytest.warns(RecordingWarning, match="acc_unit='g'"):
        load_recordings(tmp_path, rate=50)


MALFORMED = {
    # name: (lines, line, column, message part)
    "bad_number": ([HEADER, *rows(2), "0.04,0,0,9.8,0.1,abc,0.3,walking,1"], 4, "gyro_y", "'abc' is not a number"),
    "empty_cell": ([HEADER, *rows(2), "0.04,0,0,9.8,0.1,,0.3,walking,1"], 4, "gyro_y", "empty cell"),
    "infinite": ([HEADER, "0.0,0,0,inf,0.1,0.2,0.3,walking,1"], 2, "acc_z", "not a finite number"),
    "missing_column": (["timestamp,acc_x,acc_y,acc_z,gyro_x,gyro_y,label,subject",
                        *[r.rsplit(",", 3)[0] + ",walking,1" for r in rows(3)]], 1, "gyro_z", "missing column"),
    "unknown_column": ([HEADER + ",acc_q", *[r + ",1" for r in rows(3)]], 1, "acc_q", "unknown column"),
    "non_increasing_time": ([HEADER, *rows(3), *rows(2, t0=0.02)], 5, "timestamp", "must strictly increase"),
    "unknown_unit": ([HEADER.replace("acc_x", "acc_x[furlong/s2]"), *rows(3)], 1, "acc_x", "unknown unit"),
    "ragged_row": ([HEADER, *rows(2), "0.04,0,0,9.8,0.1"], 4, "gyro_y", "5 fields, the header has 9"),
    "long_row": ([HEADER, *rows(2), rows(1, t0=0.04)[0] + ",7"], 4, "#10 (beyond the header)", "10 fields"),
    "two_subjects": ([HEADER, *rows(2), *rows(2, subject=2, t0=0.04)], 4, "subject", "a file holds one subject"),
    "empty_subject": ([HEADER, *rows(2, subject="")], 2, "subject", "empty cell"),
    "two_named_subjects": ([HEADER, *rows(2, subject="p01"), *rows(1, subject="p1", t0=0.04)], 4, "subject",
                           "a file holds one subject"),
    "no_rows": ([HEADER], 2, None, "no data rows"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_is_named_and_good_files_still_load(case, tmp_path):
    lines, line, column, message = MALFORMED[case]
    write(tmp_path, "good.csv", [HEADER, *rows(60)])
    bad = write(tmp_path, f"{case}.csv", lines)
    ds, errors = load_recordings(tmp_path)
    assert [r.recording_id for r in ds.recordings] == ["good"]
    assert len(errors) == 1
    err = errors[0]
    assert isinstance(err, RecordingFormatError) and isinstance(err, ValueError)
    assert (err.file, err.line, err.column) == (str(bad), line, column)
    assert message in str(err)
    where = f"{case}.csv line {line}" + (f", column {column}" if column else "")
    assert str(err).startswith(where + ": "), str(err)
    with pytest.raises(RecordingFormatError, match=case):
        load_recordings(tmp_path, strict=True)


def test_error_message_reads_like_the_docs(tmp_path):
    lines = [HEADER, *rows(55), "1.1,0,0,9.8,0.1,abc,0.3,walking,1"]
    write(tmp_path, "walk_03.csv", lines)
    _, errors = load_recordings(tmp_path)
    assert str(errors[0]) == "walk_03.csv line 57, column gyro_y: 'abc' is not a number"


def test_timing_needs_timestamps_or_rate_and_they_must_agree(tmp_path):
    write(tmp_path, "a.csv", ["acc_x,acc_y,acc_z"] + ["0,0,9.8"] * 3)
    _, errors = load_recordings(tmp_path)
    assert (errors[0].line, errors[0].column) == (1, "timestamp") and "no rate given" in str(errors[0])
    write(tmp_path, "a.csv", [HEADER, *rows(20, rate=50)])
    _, errors = load_recordings(tmp_path, rate=100)
    assert errors[0].column == "timestamp" and "50 Hz but rate=100" in str(errors[0])
    ds, errors = load_recordings(tmp_path, rate=50.5)  # within 2%
    assert errors == [] and ds.sample_rate_hz == 50.5
    ds, _ = load_recordings(tmp_path)
    assert ds.sample_rate_hz == 50.0


def test_irregular_timestamps_are_resampled_and_gaps_unlabelled(tmp_path):
    t = np.concatenate([np.arange(50) * 0.02, 2.0 + np.arange(50) * 0.02])  # a 1 s gap after 1 s
    t[10] += 0.004  # jitter alone stays on the grid
    lines = [HEADER] + [f"{ti:.4f},{ti},0,9.8,0,0,0,walk,1" for ti in t]
    write(tmp_path, "a.csv", lines)
    with pytest.warns(RecordingWarning, match="resampled onto the grid by linear interpolation"):
        ds, errors = load_recordings(tmp_path)
    rec = ds.recordings[0]
    assert errors == [] and rec.sample_rate_hz == 50.0
    assert rec.num_samples == 150  # 0 .. 2.98 s on a 20 ms grid
    grid = np.arange(150) * 0.02
    np.testing.assert_allclose(rec.data[0], grid, atol=1e-4)  # acc_x held the time: linear interpolation
    gap = (grid > 0.98 + 1e-9) & (grid < 2.0 - 1e-9)
    assert (rec.labels[gap] == -1).all() and (rec.labels[~gap] == 0).all()


def test_files_at_another_rate_are_resampled(tmp_path):
    write(tmp_path, "a.csv", [HEADER, *rows(100, rate=50)])
    write(tmp_path, "b.csv", [HEADER, *rows(200, rate=100)])
    with pytest.warns(RecordingWarning, match="100 Hz resampled to 50 Hz"):
        ds, _ = load_recordings(tmp_path)
    assert [r.sample_rate_hz for r in ds.recordings] == [50.0, 50.0]
    assert ds.recordings[1].num_samples == 100


def test_label_ids_and_given_names(tmp_path):
    write(tmp_path, "a.csv", [HEADER, *rows(2, label="run"), *rows(2, label="3.0", t0=0.04),
                              *rows(1, label="-1", t0=0.08)])
    write(tmp_path, "b.csv", [HEADER, *rows(2, label="jump")])
    ds, _ = load_recordings(tmp_path, label_names={0: "run"})
    assert ds.label_names == {0: "run", 3: "3", 4: "jump"}
    assert ds.recordings[0].labels.tolist() == [0, 0, 3, 3, -1]
    assert ds.recordings[1].labels.tolist() == [4, 4]


def test_write_then_load_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(6, 300)).astype(np.float32)
    data[2] += 9.8
    labels = np.repeat([0, -1, 1], 100)
    rec = Recording(data, labels, ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"), 50.0, 7, "walk_01")
    path = write_recording_csv(tmp_path / "walk_01.csv", rec, {0: "walking", 1: "sitting, quietly"})
    assert path.read_text().splitlines()[0] == ("timestamp,acc_x[m/s2],acc_y[m/s2],acc_z[m/s2],gyro_x[rad/s],"
                                                "gyro_y[rad/s],gyro_z[rad/s],label,subject")
    ds, errors = load_recordings(tmp_path, label_names={0: "walking", 1: "sitting, quietly"})
    back = ds.recordings[0]
    assert errors == []
    np.testing.assert_array_equal(back.data, data)
    np.testing.assert_array_equal(back.labels, labels)
    assert (back.subject, back.sample_rate_hz, back.recording_id) == (7, 50.0, "walk_01")


def test_string_subject_ids_load_split_and_round_trip(tmp_path):
    from imuedge.data import subject_split, windows_by_split

    ids = {"a": "p01", "b": "7", "c": "w10", "d": "p02", "e": "07", "f": "3", "g": "p03"}  # 07 is subject 7
    for name, subject in ids.items():
        write(tmp_path, f"{name}.csv", [HEADER, *rows(60, subject=subject)])
    ds, errors = load_recordings(tmp_path)
    assert errors == []
    # integer ids are their own numbers; text ids follow the largest one, alphabetically
    assert ds.subject_names == {3: "3", 7: "7", 8: "p01", 9: "p02", 10: "p03", 11: "w10"}
    assert [r.subject_label for r in ds.recordings] == ["p01", "7", "w10", "p02", "7", "3", "p03"]
    split = subject_split(ds.subjects, seed=0)
    parts = windows_by_split(ds, 20, 20, [0], seed=0)
    for name, ws in parts.items():  # subject-disjoint, windows keep the ids
        assert sorted(set(ws.subject.tolist())) == split[name]
        assert {ws.subject_label(s) for s in ws.subject} == {ds.subject_names[s] for s in split[name]}
    assert len(parts["train"]) + len(parts["val"]) + len(parts["test"]) == 7 * 3

    out = tmp_path / "out"
    out.mkdir()
    for rec in ds.recordings:
        write_recording_csv(out / f"{rec.recording_id}.csv", rec, ds.label_names)
    back, _ = load_recordings(out)
    assert back.subject_names == ds.subject_names


def test_integer_subject_ids_keep_their_numbers_and_split(tmp_path):
    from imuedge.data import subject_split

    for s in (4, 12, 1, 30, 9):
        write(tmp_path, f"s{s}.csv", [HEADER, *rows(20, subject=s)])
    ds, _ = load_recordings(tmp_path)
    assert ds.subjects == [1, 4, 9, 12, 30] and all(r.subject_name == "" for r in ds.recordings)
    assert subject_split(ds.subjects, seed=2) == subject_split([1, 4, 9, 12, 30], seed=2)


def test_channel_subsets(tmp_path):
    write(tmp_path, "a.csv", [HEADER, *rows(3)])
    write(tmp_path, "b.csv", [HEADER, *rows(3)])
    ds, _ = load_recordings(tmp_path, channels=("acc_x", "acc_y", "acc_z"))
    assert ds.channels == ("acc_x", "acc_y", "acc_z") and ds.recordings[1].data.shape == (3, 3)


def test_timestamp_units(tmp_path):
    write(tmp_path, "a.csv", ["timestamp[ms],acc_x,acc_y,acc_z"] + [f"{20 * i},0,0,9.8" for i in range(10)])
    ds, errors = load_recordings(tmp_path)
    assert errors == [] and ds.sample_rate_hz == 50.0
    write(tmp_path, "a.csv", ["timestamp,acc_x,acc_y,acc_z"] + [f"{20 * i},0,0,9.8" for i in range(10)])
    _, errors = load_recordings(tmp_path)
    assert errors[0].column == "timestamp" and "timestamp[ms]" in str(errors[0])


def test_cli_inspect_lists_recordings_and_errors(tmp_path, capsys):
    import argparse

    from imuedge.data import cli

    write(tmp_path, "good.csv", [HEADER, *rows(300, label="walking"), *rows(100, label="", t0=6.0)])
    write(tmp_path, "bad.csv", [HEADER, *rows(2), "0.04,0,0,9.8,0.1,abc,0.3,walking,1"])
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["data", "inspect", str(tmp_path), "--window", "100", "--hop", "50"])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert "recordings  1" in out and "walking" in out and "5 windows" in out and "(unlabelled)" in out
    assert "error: bad.csv line 4, column gyro_y: 'abc' is not a number" in out


def test_parquet_files_load_like_csv(tmp_path):
    import pyarrow as pa  # the `parquet` extra, which ./test.sh installs
    import pyarrow.parquet as pq

    table = pa.table({"timestamp": np.arange(60) / 50.0, "acc_z[g]": np.ones(60), "acc_x[g]": np.zeros(60),
                      "acc_y[g]": np.zeros(60), "label": ["sit"] * 30 + [None] * 30})
    pq.write_table(table, tmp_path / "p.parquet")
    write(tmp_path, "q.csv", ["timestamp,acc_x[g],acc_y[g],acc_z[g],label", "0,0,0,1,sit", "0.02,0,0,x,sit"])
    ds, errors = load_recordings(tmp_path)
    rec = ds.recordings[0]
    assert (rec.recording_id, rec.sample_rate_hz, rec.channels) == ("p", 50.0, ("acc_x", "acc_y", "acc_z"))
    assert rec.data[2, 0] == pytest.approx(9.80665) and rec.labels.tolist() == [0] * 30 + [-1] * 30
    assert (errors[0].line, errors[0].column) == (3, "acc_z")


def test_comment_lines_are_skipped_and_still_counted(tmp_path):
    write(tmp_path, "a.csv", ["# phone 3, left hip", "", HEADER.replace("gyro_x", "gyro_q"), *rows(3)])
    write(tmp_path, "b.csv", ["# recorded 2024-05-01", HEADER, *rows(2), "# a note", "0.04,0,0,9.8,x,0,0,walking,1"])
    write(tmp_path, "c.csv", ["# ok", HEADER, *rows(2), "# a note", *rows(2, t0=0.04)])
    ds, errors = load_recordings(tmp_path)
    assert [(e.line, e.column) for e in errors] == [(3, "gyro_q"), (6, "gyro_x")]
    assert ds.recordings[0].num_samples == 4


# ------------------------------------------------------------------ implausible values (bad input, issue #18)
@pytest.mark.parametrize("header, cell, message", [
    (HEADER, "1e30", "a.csv line 4, column acc_x: '1e30' is 1e+30 m/s^2, outside the plausible range +-490.3 m/s^2"),
    (HEADER.replace("acc_x", "acc_x[g]"), "1e308",
     "a.csv line 4, column acc_x: '1e308' g is inf m/s^2, outside the plausible range +-490.3 m/s^2"),
    (HEADER.replace("acc_x", "acc_x[g]"), "-60", "a.csv line 4, column acc_x: '-60' g is -588.4 m/s^2"),
])
def test_implausible_values_are_refused_with_file_line_column(tmp_path, header, cell, message):
    lines = rows(5)
    lines[2] = lines[2].replace(",0.0,0.0,9.8,", f",{cell},0.0,9.8,", 1)
    write(tmp_path, "a.csv", [header, *lines])
    write(tmp_path, "b.csv", [HEADER, *rows(5)])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning on the way
        ds, errors = load_recordings(tmp_path)
    assert [r.recording_id for r in ds.recordings] == ["b"]  # the good file is kept
    assert str(errors[0]).startswith(message)
    assert "--max-acc" in str(errors[0])


def test_gyro_bound_and_raising_the_bounds(tmp_path):
    lines = rows(5)
    lines[1] = lines[1].replace(",0.1,0.2,0.3,", ",80,0.2,0.3,")  # 80 rad/s = 4584 deg/s
    write(tmp_path, "a.csv", [HEADER, *lines])
    _, errors = load_recordings(tmp_path)
    assert str(errors[0]).startswith("a.csv line 3, column gyro_x: '80' is 80 rad/s, outside the plausible range "
                                     "+-69.81 rad/s") and "--max-gyro" in str(errors[0])
    ds, errors = load_recordings(tmp_path, max_gyro=100.0)
    assert errors == [] and ds.recordings[0].data[3, 1] == 80


def test_a_huge_cell_is_not_echoed_whole(tmp_path):
    lines = rows(4)
    lines[1] = lines[1].replace(",0.1,0.2,0.3,", "," + "7" * 5000 + "x,0.2,0.3,")
    lines[2] = lines[2].replace(",walking,", "," + "9" * 400 + ",")
    write(tmp_path, "a.csv", [HEADER, *lines])
    write(tmp_path, "b.csv", [HEADER, *rows(4)[:2], rows(4)[2].replace(",walking,", "," + "9" * 400 + ","),
                               rows(4)[3]])
    _, errors = load_recordings(tmp_path)
    assert str(errors[0]) == ("a.csv line 3, column gyro_x: '7777777777777777777777777777777777777777...' "
                              "(5001 characters) is not a number")
    assert str(errors[1]).startswith("b.csv line 4, column label: label id '99999999999999999999999999999999"
                                     "99999999...' (400 characters) is too large")
    assert all(len(str(e)) < 200 for e in errors)


def test_the_cli_flags_raise_the_bounds(tmp_path, capsys):
    from imuedge.cli import main

    lines = rows(200)
    lines[1] = lines[1].replace(",0.0,0.0,9.8,", ",700,0.0,9.8,", 1)  # an impact: 71 g
    write(tmp_path, "a.csv", [HEADER, *lines])
    assert main(["data", "inspect", str(tmp_path)]) == 1
    assert "outside the plausible range" in capsys.readouterr().out
    assert main(["data", "inspect", str(tmp_path), "--max-acc", "2000"]) == 0
