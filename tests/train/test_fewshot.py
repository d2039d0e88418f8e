"""Few-shot evaluation pieces: metrics, the linear probe, folding it into one classifier."""
import numpy as np
import pytest
import torch

from imuedge.train import fewshot
from imuedge.train.encoder import IMUEncoder
from imuedge.train.metrics import confusion_matrix, macro_f1
from imuedge.train.models import classifier_from_probe


def test_macro_f1_matches_hand_computation():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp1 fp0 fn1 -> 2/3
    assert macro_f1(y, p, 3) == np.float64(np.mean([0.5, 0.8, 2 / 3])).item()
    assert macro_f1(y, y, 3) == 1.0
    assert confusion_matrix(y, p, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_probe_separates_separable_features_from_few_shots():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 4
    y = np.repeat(np.arange(4), 50)
    feats = (centres[y] + rng.normal(size=(200, 16))).astype(np.float32)
    r = fewshot.evaluate_probe(feats, y, feats, y, n_per_class=2, seed=0, num_classes=4)
    assert r.macro_f1 > 0.95
    # and fails honestly on noise: chance level, not a hard-coded number
    noise = rng.normal(size=(200, 16)).astype(np.float32)
    assert fewshot.evaluate_probe(noise, y, noise[::-1].copy(), y, 2, 0, 4).macro_f1 < 0.6


def test_probe_folds_into_an_exportable_classifier():
    torch.manual_seed(0)
    enc = IMUEncoder(channels=("acc_x", "acc_y", "acc_z")).eval()
    x = np.random.default_rng(0).normal(size=(24, 3, 128)).astype(np.float32)
    y = np.arange(24) % 3
    feats = fewshot.embed(enc, x)
    r = fewshot.evaluate_probe(feats, y, feats, y, n_per_class=4, seed=0, num_classes=3)
    model = classifier_from_probe(enc, r.head, r.mean, r.std)
    assert (fewshot.predict(model, x) == r.y_pred).all()


def test_embedding_runs_channels_last_and_leaves_the_weights_as_they_were():
    torch.manual_seed(0)
    enc = IMUEncoder(channels=("acc_x", "acc_y", "acc_z")).eval()
    x = np.random.default_rng(0).normal(size=(40, 3, 128)).astype(np.float32)
    convs = [m.weight for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    seen = []
    hook = enc.register_forward_pre_hook(lambda m, a: seen.append(convs[0].is_contiguous(
        memory_format=torch.channels_last) and not convs[0].is_contiguous()))
    feats = fewshot.embed(enc, x)
    hook.remove()
    assert seen and all(seen)  # every batch ran channels-last
    assert all(w.is_contiguous() for w in convs)  # and the weights are back: a checkpoint or an export sees no change
    with torch.no_grad():
        plain = enc(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(feats, plain, atol=1e-4)  # the same features, up to float summation order


def test_supervised_training_learns_a_simple_task():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    y = np.arange(64) % 2
    x = rng.normal(size=(64, 2, 16)).astype(np.float32)
    x[y == 1, 0] += 2.0
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 2))
    fewshot.train_supervised(model, x, y, seed=0, cfg=fewshot.SupervisedConfig(epochs=5, lr=1e-2, min_steps=200))
    assert (fewshot.predict(model, x) == y).mean() > 0.95


def small_mae_classifier(depth: int = 3) -> torch.nn.Module:
    from imuedge.train.encoder import Classifier
    from imuedge.train.mae import MAEEncoder

    torch.manual_seed(0)
    return Classifier(MAEEncoder(channels=("acc_x", "acc_y", "acc_z"), window=32, patch=4, dim=16, depth=depth,
                                 heads=2), 3)


def test_layer_wise_decay_gives_the_head_the_full_rate_and_the_input_layers_the_least():
    model = small_mae_classifier(depth=3)
    groups = fewshot.layer_groups(model, lr=1e-3, decay=0.5)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert len(lr_of) == sum(1 for _ in model.parameters())  # every parameter in exactly one group
    assert sum(len(g["params"]) for g in groups) == len(lr_of)
    named = dict(model.named_parameters())
    assert lr_of[id(named["head.weight"])] == lr_of[id(named["encoder.norm.weight"])] == 1e-3
    assert lr_of[id(named["encoder.blocks.2.attn.q.weight"])] == 1e-3 * 0.5
    assert lr_of[id(named["encoder.blocks.0.mlp.0.weight"])] == 1e-3 * 0.5 ** 3
    assert lr_of[id(named["encoder.patch_embed.0.weight"])] == 1e-3 * 0.5 ** 4
    with pytest.raises(ValueError, match="MAE encoder"):  # a CNN has no blocks to decay
        fewshot.layer_groups(torch.nn.Sequential(torch.nn.Linear(2, 2)), 1e-3, 0.5)


def test_warm_up_rises_linearly_then_the_cosine_decays_to_zero():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = fewshot.lr_schedule(opt, steps=20, warmup_steps=4)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(a > b for a, b in zip(lrs[4:], lrs[5:])) and lrs[-1] < 0.02
    plain = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)  # no warm-up: starts at the peak
    fewshot.lr_schedule(plain, steps=20)
    assert plain.param_groups[0]["lr"] == 1.0


def test_finetune_trains_a_copy_of_the_encoder_end_to_end():
    model = small_mae_classifier()
    encoder = model.encoder
    rng = np.random.default_rng(0)
    y = np.arange(96) % 3
    x = rng.normal(size=(96, 3, 32)).astype(np.float32)
    x[np.arange(96), y] += 2.0  # class c: channel c offset
    encoder.fit_normalization(x)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    cfg = fewshot.SupervisedConfig(epochs=20, batch_size=32, lr=3e-3, layer_decay=0.75, warmup_steps=5, min_steps=0)
    tuned = fewshot.finetune(encoder, x, y, seed=0, num_classes=3, cfg=cfg)
    assert (fewshot.predict(tuned, x) == y).mean() > 0.95
    assert all(torch.equal(v, encoder.state_dict()[k]) for k, v in before.items())  # the original is untouched
    assert not torch.equal(tuned.encoder.blocks[0].attn.q.weight, encoder.blocks[0].attn.q.weight)
