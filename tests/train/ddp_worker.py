"""Run under torchrun by test_pretrain.py: a few real pretraining steps, then each
rank saves its weights so the test can compare them."""
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from imuedge.train.pretrain import PretrainConfig, train

out = Path(sys.argv[1])
cfg = PretrainConfig(steps=3, batch_size=8, out=str(out / "run"), checkpoint_every=3, threads=1)
cfg.moco.queue_size = 64
moco, _ = train(cfg, quiet=True)
torch.save({k: v.detach().clone() for k, v in moco.state_dict().items()}, out / f"rank{dist.get_rank()}.pt")
dist.destroy_process_group()
