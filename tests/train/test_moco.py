import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from imuedge.train.moco import MoCo, MoCoConfig, SplitBatchNorm2d

@pytest.fixture(autouse=True)
def one_thread():  # tiny convs: threads only add contention on shared CPUs
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


TINY = dict(backbone_kwargs={"widths": [8, 16], "depths": [1, 1]}, dim=8, queue_size=12)


def test_defaults_follow_paper():
    cfg = MoCoConfig()
    assert (cfg.dim, cfg.queue_size, cfg.momentum, cfg.temperature) == (64, 4096, 0.999, 0.2)


def test_momentum_update_formula():
    torch.manual_seed(0)
    moco = MoCo(MoCoConfig(**TINY, momentum=0.9))
    with torch.no_grad():
        for p in moco.query_parameters():
            p.add_(torch.randn_like(p))
    q = [p.detach().clone() for p in moco.query_parameters()]
    k = [p.detach().clone() for p in moco.key_parameters()]
    moco.momentum_update()
    for qi, ki, new in zip(q, k, moco.key_parameters()):
        assert torch.allclose(new, 0.9 * ki + 0.1 * qi, atol=1e-7)
        assert not new.requires_grad


def test_queue_pointer_advances_and_wraps():
    moco = MoCo(MoCoConfig(**TINY))
    keys = [torch.nn.functional.normalize(torch.randn(5, 8), dim=1) for _ in range(3)]
    moco.dequeue_and_enqueue(keys[0])
    assert int(moco.queue_ptr) == 5 and torch.equal(moco.queue[:5], keys[0])
    moco.dequeue_and_enqueue(keys[1])
    moco.dequeue_and_enqueue(keys[2])  # 10..14 wraps to 10, 11, 0, 1, 2
    assert int(moco.queue_ptr) == 3
    assert torch.equal(moco.queue[10:], keys[2][:2]) and torch.equal(moco.queue[:3], keys[2][2:])
    assert torch.equal(moco.queue[5:10], keys[1])


def probe_loss(moco, x, negatives, seed=0):
    """InfoNCE on fixed views against fixed negatives, without touching MoCo's state."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        q = moco.encode_query(x + 0.1 * torch.randn(x.shape, generator=g))
        k = moco.encode_key(x + 0.1 * torch.randn(x.shape, generator=g))
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ moco.encode_key(negatives).T], 1)
        return F.cross_entropy(logits / moco.config.temperature, torch.zeros(len(x), dtype=torch.long)).item()


def test_forward_enqueues_normalised_keys_and_loss_decreases():
    torch.manual_seed(0)
    moco = MoCo(MoCoConfig(**{**TINY, "queue_size": 16}, momentum=0.9)).train()
    fixed, negatives = torch.randn(8, 3, 16, 16), torch.randn(16, 3, 16, 16)
    before = probe_loss(moco, fixed, negatives)
    opt = torch.optim.Adam([p for p in moco.parameters() if p.requires_grad], lr=3e-3)
    for step in range(40):  # instance discrimination of fresh noise images under small noise
        x = torch.randn(8, 3, 16, 16)
        im_q, im_k = x + 0.1 * torch.randn_like(x), x + 0.1 * torch.randn_like(x)
        loss, logits, labels = moco(im_q, im_k)
        assert logits.shape == (8, 17) and torch.equal(labels, torch.zeros(8, dtype=torch.long))
        assert torch.isfinite(loss)
        if step == 0:
            assert int(moco.queue_ptr) == 8
            assert torch.allclose(moco.queue[:8].norm(dim=1), torch.ones(8), atol=1e-5)
            assert torch.allclose(moco.queue[:8], moco.encode_key(im_k), atol=1e-6)  # the batch's keys
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert probe_loss(moco, fixed, negatives) < before - 0.5


def test_eval_forward_does_not_touch_state():
    moco = MoCo(MoCoConfig(**TINY)).eval()
    queue, keys = moco.queue.clone(), [p.clone() for p in moco.key_parameters()]
    moco(torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16))
    assert torch.equal(queue, moco.queue) and int(moco.queue_ptr) == 0
    assert all(torch.equal(a, b) for a, b in zip(keys, moco.key_parameters()))


def test_config_round_trip_and_encoder_weights():
    moco = MoCo(MoCoConfig(**TINY))
    again = MoCo.from_config(moco.to_config())
    assert again.to_config() == moco.to_config()
    assert set(moco.encoder_state_dict()) == set(moco.backbone.state_dict())


def test_far_negatives_add_the_batch_and_leave_out_keys_near_the_query():
    torch.manual_seed(0)
    moco = MoCo(MoCoConfig(**TINY, far_negatives_s=30.0))
    #                     recording, start (s): 0 and 1 are 10 s apart; 2 is 40 s from 0; 3 elsewhere
    where = torch.tensor([[0.0, 0.0], [0.0, 10.0], [0.0, 40.0], [1.0, 10.0]])
    x = torch.randn(4, 3, 16, 16)
    _, logits, _ = moco(x, x, where)  # the queue holds no recording yet: all 12 queued keys are negatives
    masked = logits == -1e4 / moco.config.temperature
    assert logits.shape == (4, 1 + 12 + 4)
    assert not masked[:, :13].any()
    in_batch = masked[:, 13:]
    assert in_batch.tolist() == [[True, True, False, False],   # itself and the key 10 s away
                                 [True, True, False, False],   # (40 - 10 = 30 s is far enough)
                                 [False, False, True, False],
                                 [False, False, False, True]]  # another recording: only itself
    assert torch.equal(moco.queue_where[:4], where)
    _, logits, _ = moco(x[:1], x[:1], torch.tensor([[0.0, 5.0]]))  # now the queue holds keys 0 (5 s) and 1 (5 s)
    assert (logits[0, 1:13] == -1e4 / moco.config.temperature).tolist() == [True, True] + [False] * 10


def test_far_negatives_without_where_mask_only_each_image_itself():
    moco = MoCo(MoCoConfig(**TINY, far_negatives_s=30.0))
    _, logits, _ = moco(torch.randn(3, 3, 16, 16), torch.randn(3, 3, 16, 16))  # e.g. procedural images
    assert torch.equal(logits[:, 13:] == -1e4 / 0.2, torch.eye(3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"where must be \(N, 2\)"):
        moco(torch.randn(3, 3, 16, 16), torch.randn(3, 3, 16, 16), torch.zeros(3))


def test_without_far_negatives_the_state_is_plain_moco():
    assert "queue_where" not in MoCo(MoCoConfig(**TINY)).state_dict()  # old checkpoints still resume
    assert "queue_where" in MoCo(MoCoConfig(**TINY, far_negatives_s=1.0)).state_dict()


def test_split_batchnorm_is_batchnorm_per_chunk():
    torch.manual_seed(0)
    plain = nn.BatchNorm2d(4)
    nn.init.uniform_(plain.weight), nn.init.uniform_(plain.bias)
    split = SplitBatchNorm2d(4, splits=3)
    split.load_state_dict(plain.state_dict())  # same parameters and buffers: checkpoints load either way
    x = torch.randn(12, 4, 5, 6) * 3 + 1
    per_chunk = [copy.deepcopy(plain) for _ in range(3)]  # what 3 GPUs with 4 images each would do
    assert torch.allclose(split(x), torch.cat([bn(c) for bn, c in zip(per_chunk, x.chunk(3))]), atol=1e-6)
    assert torch.allclose(split.running_mean, torch.stack([bn.running_mean for bn in per_chunk]).mean(0))
    assert torch.allclose(split.running_var, torch.stack([bn.running_var for bn in per_chunk]).mean(0))
    assert not torch.allclose(split(x), plain(x))  # chunk statistics are not the batch's
    split.eval(), plain.eval()
    plain.load_state_dict(split.state_dict())
    assert torch.equal(split(x), plain(x))  # in eval: running statistics, as BatchNorm2d
    with pytest.raises(ValueError, match="multiple of bn_splits"):
        split.train()(torch.randn(10, 4, 5, 6))


def test_shuffled_bn_trains_and_gives_a_plain_encoder():
    torch.manual_seed(0)
    moco = MoCo(MoCoConfig(**TINY, bn_splits=2))
    assert {type(m) for m in moco.backbone.modules() if isinstance(m, nn.BatchNorm2d)} == {SplitBatchNorm2d}
    assert {type(m) for m in moco.key_backbone.modules() if isinstance(m, nn.BatchNorm2d)} == {SplitBatchNorm2d}
    x = torch.randn(4, 3, 16, 16)
    loss, logits, _ = moco(x, x)
    loss.backward()
    assert logits.shape == (4, 13) and all(p.grad is not None for p in moco.query_parameters())
    plain = MoCo(MoCoConfig(**TINY))
    plain.backbone.load_state_dict(moco.encoder_state_dict())  # the encoder is an ordinary backbone
    moco.eval()  # in eval the split BN and the shuffle are gone: the same features as that backbone
    assert torch.allclose(moco.encode_query(x), F.normalize(moco.head(plain.backbone.eval()(x)), dim=1), atol=1e-6)
    with pytest.raises(ValueError, match="bn_splits must be >= 1"):
        MoCo(MoCoConfig(**TINY, bn_splits=0))
