"""benchmarks/augmentation_bench.py: the generator never sees a label or a subject the classifier is not given,
and one tiny cell of each protocol runs end to end into the JSONL and the summary."""
import json

import numpy as np
import pytest
import torch

from benchmarks import augmentation_bench as ab


@pytest.fixture(scope="module")
def data():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield ab.load_data(hop=64)  # the tests' generator windows: hop 64, 4x fewer than the benchmark's default
    torch.set_num_threads(before)


def windows(keys, ys, subjects):
    return ab.Labelled(np.zeros((len(keys), 6, 128), np.float32), np.array(ys, np.int64),
                       np.array(subjects, np.int64), np.array(keys))


def test_the_guard_refuses_every_label_or_subject_the_classifier_is_not_given():
    clf = windows(["r1:0", "r1:64", "r2:0"], [0, 1, 2], [1, 1, 3])
    ab.check_no_leak(windows(["r1:0", "r2:0"], [0, 2], [1, 3]), clf, withheld_subjects=[2, 9])  # a subset: fine
    leaks = {"window outside": windows(["r1:0", "r9:0"], [0, 1], [1, 1]),
             "another label": windows(["r1:0"], [1], [1]),
             "another subject": windows(["r1:0"], [0], [5])}
    for what, gen in leaks.items():
        with pytest.raises(ab.LabelLeakError):
            ab.check_no_leak(gen, clf, withheld_subjects=[2, 9])
    with pytest.raises(ab.LabelLeakError, match="withheld"):  # a test subject in the unlabelled pretraining
        ab.check_no_leak(windows([], [], []), clf, [2, 9], unlabelled_y=[6, 6], unlabelled_subjects=[1, 9],
                         null_class=6)
    with pytest.raises(ab.LabelLeakError, match="carry labels"):  # pretraining windows that keep a label
        ab.check_no_leak(windows([], [], []), clf, [2, 9], unlabelled_y=[6, 3], unlabelled_subjects=[1, 1],
                         null_class=6)


def test_few_subjects_gives_generator_and_classifier_the_same_k_training_subjects(data):
    seeds = [0, 1, 2, 3, 4]
    draws = ab.subject_draws(np.unique(data.train_64.subject), 2, seeds)
    assert len({tuple(d) for d in draws.values()}) == 5  # a distinct draw per seed
    assert ab.subject_draws(np.unique(data.train_64.subject), 2, [3]) == {3: draws[3]}  # independent of the others
    for seed in seeds:
        gen, clf, info = ab.few_subjects_sets(data.train_64, 2, seed, seeds)
        assert sorted(set(gen.subject.tolist())) == sorted(set(clf.subject.tolist())) == info["subjects"] == draws[seed]
        assert np.array_equal(gen.key, clf.key) and np.array_equal(gen.y, clf.y)
        assert not set(info["subjects"]) & set(data.withheld)
        ab.check_no_leak(gen, clf, data.withheld)


def test_few_labels_conditions_the_generator_on_exactly_the_classifiers_n_windows_per_class(data):
    gen, clf, _ = ab.few_labels_sets(data.train_64, 5, seed=2, num_classes=6)
    assert np.array_equal(np.bincount(clf.y, minlength=6), [5] * 6)
    assert np.array_equal(gen.key, clf.key) and np.array_equal(gen.y, clf.y) and np.array_equal(gen.x, clf.x)
    other, _, _ = ab.few_labels_sets(data.train_64, 5, seed=3, num_classes=6)
    assert not np.array_equal(other.key, clf.key)


def tiny(protocol, value, out, work):
    return ["--protocol", protocol, "--values", str(value), "--seeds", "0", "--out", str(out), "--work", str(work),
            "--teacher-steps", "2", "--pretrain-steps", "2", "--finetune-steps", "2", "--distill-start", "2",
            "--student-steps", "1", "--distill-iterations", "1", "--batch-size", "4", "--base", "8", "--hop", "64",
            "--classifier-epochs", "1", "--ratios", "1"]


class Spy:
    """Records the windows every train() and distill() call of the benchmark is given, then runs it."""

    def __init__(self, monkeypatch):
        from imuedge.train.diffusion import distill, train

        self.calls = []
        real_train, real_distill = train.train, distill.distill

        def spy_train(cfg, quiet=False, windows=None, init=""):
            self.calls.append(("train", windows[0], windows[1], init))
            return real_train(cfg, quiet, windows, init)

        def spy_distill(cfg, quiet=False, windows=None):
            self.calls.append(("distill", windows[0], windows[1], ""))
            return real_distill(cfg, quiet, windows)

        monkeypatch.setattr(train, "train", spy_train)
        monkeypatch.setattr(distill, "distill", spy_distill)


def test_a_tiny_few_labels_cell_pretrains_without_labels_and_conditions_on_the_classifiers_windows(
        data, tmp_path, monkeypatch):
    spy = Spy(monkeypatch)
    monkeypatch.setattr(ab, "load_data", lambda hop: data)
    assert ab.main(tiny("few_labels", 2, tmp_path / "out", tmp_path / "work")) == 0
    (pre, pre_x, pre_y, _), (fine, fx, fy, init), (dist, dx, dy, _) = spy.calls
    assert (pre, fine, dist) == ("train", "train", "distill") and init  # fine-tuned from the pretrained teacher
    assert np.all(pre_y == 6) and np.array_equal(pre_x, data.unlabelled.x)  # the whole recordings, no label
    assert np.all(data.unlabelled.y == -1) and len(data.unlabelled.y) > len(data.train_64.y)
    clf = ab.few_labels_sets(data.train_64, 2, 0, 6)[1]
    for x, y in ((fx, fy), (dx, dy)):
        assert np.array_equal(x, clf.x) and np.array_equal(y, clf.y)
    row = json.loads((tmp_path / "out" / "raw" / "few_labels_n2.jsonl").read_text())
    assert row["real_per_class"] == [2] * 6 and row["synthetic"]["1"]["synthetic_per_class"] == [2] * 6
    assert row["synthetic"]["1"]["gain"] == pytest.approx(row["synthetic"]["1"]["f1_real_plus_synthetic"]
                                                          - row["f1_real_only"])
    summary = json.loads((tmp_path / "out" / "augmentation_bench.json").read_text())
    cells = {(c["protocol"], c.get("k", c.get("n"))): c for c in summary["cells"]}
    assert cells[("few_labels", 2)]["status"] == "partial (1 seeds)"
    assert cells[("few_subjects", 2)]["status"] == "not run" and len(cells) == 6
    assert summary["acceptance_3"]["met"] is False  # no 5-seed cell at n = 10 or k = 2


def test_a_tiny_few_subjects_cell_trains_the_generator_on_the_classifiers_subjects_only(data, tmp_path, monkeypatch):
    spy = Spy(monkeypatch)
    monkeypatch.setattr(ab, "load_data", lambda hop: data)
    assert ab.main(tiny("few_subjects", 2, tmp_path / "out", tmp_path / "work")) == 0
    gen, clf, info = ab.few_subjects_sets(data.train_64, 2, 0, [0])
    (_, tx, ty, init), (_, dx, dy, _) = spy.calls
    assert init == "" and np.array_equal(tx, clf.x) and np.array_equal(dx, clf.x) and np.array_equal(ty, clf.y)
    row = json.loads((tmp_path / "out" / "raw" / "few_subjects_k2.jsonl").read_text())
    assert row["subjects"] == info["subjects"] and row["real_windows"] == len(clf.y)
    assert 0.0 <= row["f1_real_only"] <= 1.0 and set(row["synthetic"]) == {"1"}
    md = (tmp_path / "out" / "augmentation_bench.md").read_text()
    assert "| few_subjects | k=2 | 1 |" in md and "| few_labels | n=10 | not run | - | - | - | - | - | - | - | - |" in md


def test_a_protocol_that_would_leak_a_label_is_refused_before_any_training(data, tmp_path, monkeypatch):
    spy = Spy(monkeypatch)
    monkeypatch.setattr(ab, "load_data", lambda hop: data)

    def leaky(train_windows, n, seed, num_classes):  # the generator gets one more labelled window
        gen, clf, info = ab.__dict__["_few_labels_sets"](train_windows, n, seed, num_classes)
        more = ab.Labelled.of(train_windows.subset(np.flatnonzero(~np.isin(
            ab.Labelled.of(train_windows).key, clf.key))[:1]))
        return ab.Labelled(*(np.concatenate([a, b]) for a, b in zip(
            (gen.x, gen.y, gen.subject, gen.key), (more.x, more.y, more.subject, more.key)))), clf, info

    monkeypatch.setitem(ab.__dict__, "_few_labels_sets", ab.few_labels_sets)
    monkeypatch.setattr(ab, "few_labels_sets", leaky)
    with pytest.raises(ab.LabelLeakError, match="not given"):
        ab.main(tiny("few_labels", 2, tmp_path / "out", tmp_path / "work"))
    assert spy.calls == [] and not (tmp_path / "out" / "raw" / "few_labels_n2.jsonl").exists()


class StageSpy:
    """Records the windows every call of a generator's stages (``stages``: tag -> function name in ``module``) and
    of distill() is given (with its init, or the teacher it distils), then runs it."""

    def __init__(self, monkeypatch, module, stages):
        from imuedge.train.diffusion import distill

        self.calls = []

        def spy(tag, real):
            def call(cfg, quiet=False, windows=None, **kw):
                self.calls.append((tag, windows[0], windows[1], cfg.teacher if tag == "distill" else kw.get("init", "")))
                return real(cfg, quiet, windows, **kw)
            return call

        for tag, name in stages.items():
            monkeypatch.setattr(module, name, spy(tag, getattr(module, name)))
        monkeypatch.setattr(distill, "distill", spy("distill", distill.distill))


# generator (also its checkpoint's name) -> (module, its stages (tag -> function), its steps flags, its fine-tuning
# budget field, another generator's budget field its rows must not carry)
TWO_STAGE = {
    "latent": ("latent_train", {"vae": "train_vae", "latent": "train_latent"},
               ["--vae-steps", "2", "--latent-steps", "2", "--latent-finetune-steps", "2"], "latent_finetune_steps",
               "vqvae_steps"),
    "vq": ("vq_train", {"vqvae": "train_vqvae", "vq": "train_vqprior"},
           ["--vqvae-steps", "2", "--vqprior-steps", "2", "--vqprior-finetune-steps", "2"], "vqprior_finetune_steps",
           "latent_steps"),
}


def two_stage(generator, protocol, tmp_path, monkeypatch, data):
    """Run one tiny cell of ``protocol`` with the latent or VQ generator, its stages and distill() spied on."""
    import importlib

    module, stages, flags, _, _ = TWO_STAGE[generator]
    spy = StageSpy(monkeypatch, importlib.import_module(f"imuedge.train.diffusion.{module}"), stages)
    monkeypatch.setattr(ab, "load_data", lambda hop: data)
    argv = tiny(protocol, 2, tmp_path / "out", tmp_path / "work") + ["--generator", generator] + flags
    assert ab.main(argv) == 0
    return spy, list(stages)


@pytest.mark.parametrize("generator", sorted(TWO_STAGE))
def test_the_two_stage_generators_pretrain_both_stages_without_labels_for_few_labels(
        generator, data, tmp_path, monkeypatch):
    spy, (first, second) = two_stage(generator, "few_labels", tmp_path, monkeypatch, data)
    finetune, other_field = TWO_STAGE[generator][3:]
    (stage1, x1, _, _), (pre, px, py, pinit), (fine, fx, fy, init), (dist, dx, dy, teacher) = spy.calls
    assert (stage1, pre, fine, dist) == (first, second, second, "distill")
    assert np.array_equal(x1, data.unlabelled.x) and np.array_equal(px, data.unlabelled.x)  # whole recordings
    assert np.all(py == 6) and pinit == ""  # the prior's pretraining: every window the null class
    assert init.endswith(f"{generator}.pt") and f"pretrain_{generator}" in init  # fine-tuned from it, its first stage kept
    clf = ab.few_labels_sets(data.train_64, 2, 0, 6)[1]
    for x, y in ((fx, fy), (dx, dy)):
        assert np.array_equal(x, clf.x) and np.array_equal(y, clf.y)
    row = json.loads((tmp_path / "out" / "raw" / "few_labels_n2.jsonl").read_text())
    assert row["budget"]["generator"] == generator and row["budget"][finetune] == 2
    assert other_field not in row["budget"]  # only its own generator's budget fields
    assert row["synthetic"]["1"]["synthetic_per_class"] == [2] * 6


@pytest.mark.parametrize("generator", sorted(TWO_STAGE))
def test_the_two_stage_generators_train_on_the_classifiers_subjects_only(generator, data, tmp_path, monkeypatch):
    spy, (first, second) = two_stage(generator, "few_subjects", tmp_path, monkeypatch, data)
    clf = ab.few_subjects_sets(data.train_64, 2, 0, [0])[1]
    (stage1, x1, _, _), (stage2, x2, y2, init), (_, dx, dy, _) = spy.calls
    assert (stage1, stage2, init) == (first, second, "")
    for x in (x1, x2, dx):
        assert np.array_equal(x, clf.x)
    assert np.array_equal(y2, clf.y) and np.array_equal(dy, clf.y)
    with pytest.raises(SystemExit):  # argparse's one-line error, exit status 2
        ab.main(tiny("few_subjects", 2, tmp_path / "o2", tmp_path / "w2") + ["--generator", "gan"])


def test_each_row_records_only_its_own_generators_budget():
    assert "generator" not in ab.budget_dict(ab.Budget()) and "vae_steps" not in ab.budget_dict(ab.Budget())
    latent = ab.budget_dict(ab.Budget(generator="latent"))
    assert latent["vae_steps"] == 1500 and "vqvae_steps" not in latent  # as the latent rows already written
    vq = ab.budget_dict(ab.Budget(generator="vq"))
    assert vq["vqvae_steps"] == 1000 and "vae_steps" not in vq and vq["generator"] == "vq"


def test_a_missing_commands_file_is_one_line_of_error_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        ab.main(["--summarize", "--out", str(tmp_path), "--commands", str(tmp_path / "commands.txt")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--commands" in err and "commands.txt: no such file" in err and "Traceback" not in err
