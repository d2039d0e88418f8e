"""Splits are subject-disjoint and deterministic; few-shot picks n per class."""
import numpy as np
import pytest

from imuedge.data import WindowSet, distinct_subject_split, few_shot_indices, split_windows, subject_split


def test_subject_split_is_disjoint_complete_and_deterministic():
    subjects = list(range(1, 31)) * 3
    split = subject_split(subjects, seed=0)
    parts = [set(split[k]) for k in ("train", "val", "test")]
    assert [len(p) for p in parts] == [18, 6, 6]
    assert set().union(*parts) == set(range(1, 31)) and sum(map(len, parts)) == 30
    assert subject_split(subjects, seed=0) == split
    assert subject_split(subjects, seed=1) != split


@pytest.mark.parametrize("n", [3, 4, 5, 7])
def test_every_split_gets_a_subject(n):
    split = subject_split(range(n), seed=3, ratios=(0.8, 0.1, 0.1))
    assert all(len(v) >= 1 for v in split.values()) and sum(len(v) for v in split.values()) == n


def test_distinct_splits_hold_out_another_set_for_every_seed():
    subjects = list(range(1, 11))
    tests = [tuple(distinct_subject_split(subjects, seed)["test"]) for seed in range(20)]
    assert len(set(tests)) == 20  # C(10, 2) = 45 sets to draw from
    assert distinct_subject_split(subjects, 0) == subject_split(subjects, 0)
    for seed in (3, 11):
        split = distinct_subject_split(subjects, seed)
        assert sorted(split["train"] + split["val"] + split["test"]) == subjects
        assert [len(split[k]) for k in ("train", "val", "test")] == [6, 2, 2]


def test_too_few_subjects_or_bad_ratios_are_refused():
    with pytest.raises(ValueError, match="at least 3 subjects"):
        subject_split([1, 1, 2], seed=0)
    with pytest.raises(ValueError, match="ratios"):
        subject_split(range(10), seed=0, ratios=(1.0, 0.0, 0.0))


def windowset(subjects, y):
    n = len(y)
    return WindowSet(np.zeros((n, 1, 4), np.float32), np.asarray(y), np.asarray(subjects),
                     np.array([f"r{s}" for s in subjects], dtype=object), np.zeros(n, np.int64), ("acc_x",), 50.0)


def test_split_windows_follows_the_subjects():
    ws = windowset([1, 1, 2, 3, 3, 3, 4], [0, 1, 0, 1, 0, 1, 0])
    parts = split_windows(ws, {"train": [1, 4], "val": [2], "test": [3]})
    assert parts["train"].subject.tolist() == [1, 1, 4] and len(parts["test"]) == 3
    with pytest.raises(ValueError, match="subject 2 is in both"):
        split_windows(ws, {"train": [1, 2], "val": [2], "test": [3]})


def test_few_shot_picks_n_per_class_deterministically():
    y = np.repeat([0, 1, 2], [20, 30, 8])
    idx = few_shot_indices(y, 5, seed=0)
    assert np.bincount(y[idx]).tolist() == [5, 5, 5]
    assert np.array_equal(idx, few_shot_indices(y, 5, seed=0))
    assert not np.array_equal(idx, few_shot_indices(y, 5, seed=1))
    assert set(few_shot_indices(y, 2, seed=0)) <= set(few_shot_indices(y, 4, seed=0))  # nested


def test_few_shot_warns_when_a_class_is_short():
    y = np.repeat([0, 1], [10, 2])
    with pytest.warns(UserWarning, match="class 1 has only 2 windows"):
        idx = few_shot_indices(y, 5, seed=0)
    assert np.bincount(y[idx]).tolist() == [5, 2]
