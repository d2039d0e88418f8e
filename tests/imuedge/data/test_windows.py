"""Windows never cross a label change, an unlabelled sample or a recording boundary."""
import numpy as np
import pytest

from imuedge.data import UNLABELLED, Dataset, Recording, ZScore, label_runs, make_windows, remap_labels, \
    unlabelled_windows


def recording(labels, rid, subject=1, channels=("acc_x", "gyro_x")):
    n = len(labels)
    data = np.vstack([np.arange(n), -np.arange(n)]).astype(np.float32)[: len(channels)]
    return Recording(data, np.asarray(labels), channels, 50.0, subject, rid)


LABELS = [1] * 10 + [2] * 7 + [-1] * 3 + [1] * 12 + [3] * 3


def test_label_runs():
    assert label_runs(LABELS) == [(0, 10, 1), (10, 17, 2), (20, 32, 1), (32, 35, 3)]
    assert label_runs([]) == [] and label_runs([-1, -1]) == []


def test_windows_stay_inside_constant_label_runs():
    ds = Dataset([recording(LABELS, "a"), recording([2] * 6, "b", subject=2)], {1: "one", 2: "two", 3: "three"})
    ws = make_windows(ds, window=4, hop=2)
    assert list(zip(ws.recording, ws.start.tolist(), ws.y.tolist())) == [
        ("a", 0, 1), ("a", 2, 1), ("a", 4, 1), ("a", 6, 1),  # run 0..10
        ("a", 10, 2), ("a", 12, 2),  # run 10..17 (a window at 14 would reach 18)
        ("a", 20, 1), ("a", 22, 1), ("a", 24, 1), ("a", 26, 1), ("a", 28, 1),  # run 20..32
        ("b", 0, 2), ("b", 2, 2),  # the 3-sample run of 3 gives nothing; b is its own recording
    ]
    recs = {r.recording_id: r for r in ds.recordings}
    for x, y, rid, s in zip(ws.x, ws.y, ws.recording, ws.start):
        r = recs[rid]
        np.testing.assert_array_equal(x, r.data[:, s:s + 4])  # traceable to its source samples
        assert (r.labels[s:s + 4] == y).all()
    assert ws.subject.tolist() == [1] * 11 + [2] * 2
    assert ws.x.shape == (13, 2, 4) and ws.x.dtype == np.float32


def test_windows_across_recordings_are_never_glued():
    ds = Dataset([recording([1] * 6, "a"), recording([1] * 6, "b")])
    ws = make_windows(ds, window=8, hop=1)
    assert len(ws) == 0 and ws.x.shape == (0, 2, 8)


def test_classes_filter_and_remap():
    ds = Dataset([recording(LABELS, "a")], {1: "one", 2: "two", 3: "three"})
    ws = make_windows(ds, window=3, hop=3, classes=[2, 3])
    assert sorted(set(ws.y.tolist())) == [2, 3] and ws.label_names == {2: "two", 3: "three"}
    mapped = remap_labels(ws, [3, 2])
    assert mapped.y.tolist() == [1, 1, 0] and mapped.label_names == {0: "three", 1: "two"}


def test_mismatched_recordings_are_refused():
    ds = Dataset([recording([1] * 6, "a"), recording([1] * 6, "b", channels=("acc_x",))])
    with pytest.raises(ValueError, match="b:"):
        make_windows(ds, 2, 1)


def test_zscore_fit_apply_and_round_trip():
    rng = np.random.default_rng(0)
    data = rng.normal([[3.0], [-2.0]], [[2.0], [0.5]], size=(2, 2000))
    ds = Dataset([Recording(data, np.ones(2000), ("acc_x", "gyro_x"), 50.0, 1, "r")])
    ws = make_windows(ds, 50, 50)
    z = ZScore.fit(ws)
    out = z.apply(ws)
    np.testing.assert_allclose(out.x.mean(axis=(0, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.x.std(axis=(0, 2)), 1, atol=1e-4)
    assert not np.shares_memory(ws.x, out.x)  # the input is left alone
    again = ZScore.from_dict(z.to_dict())
    np.testing.assert_array_equal(again.apply(ws.x), out.x)
    constant = ZScore.fit(make_windows(Dataset([recording([1] * 10, "c")]), 5, 5))
    assert np.isfinite(constant.apply(np.zeros((1, 2, 5)))).all()


def test_unlabelled_windows_cross_label_changes_but_never_recordings_and_keep_no_label():
    ds = Dataset([recording(LABELS, "a"), recording([2] * 6, "b", subject=2), recording([1] * 3, "c")])
    ws = unlabelled_windows(ds, window=4, hop=8)
    # a (35 samples): starts 0, 8, 16, 24 (the one at 8 spans labels 1 and 2, the one at 16 the unlabelled gap);
    # b (6): start 0 only; c (3): too short.
    assert list(zip(ws.recording, ws.start.tolist())) == [("a", 0), ("a", 8), ("a", 16), ("a", 24), ("b", 0)]
    assert (ws.y == UNLABELLED).all() and ws.label_names == {}
    recs = {r.recording_id: r for r in ds.recordings}
    for x, rid, s in zip(ws.x, ws.recording, ws.start):
        np.testing.assert_array_equal(x, recs[rid].data[:, s:s + 4])
    with pytest.raises(ValueError, match="no recording is 40 samples long"):
        unlabelled_windows(ds, window=40, hop=8)
