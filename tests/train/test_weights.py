"""The shipped pretrained encoder (train/weights/): small, loads without running pickled code, works,
and was made by the command its README gives."""
import shlex
from pathlib import Path

import pytest
import torch

from imuedge import checkpoint
from imuedge.train.models import SHIPPED, WEIGHTS, load_encoder


def readme_command() -> list[str]:
    text = (WEIGHTS / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    line = " ".join(part.strip().rstrip("\\") for part in block.splitlines() if part.strip().startswith(("imuedge", "--")))
    return shlex.split(line)


@pytest.mark.parametrize("label", sorted(SHIPPED))
def test_shipped_encoder_is_small_safe_and_made_by_its_documented_command(label):
    path = SHIPPED[label]
    assert path.is_file(), f"{path} is listed in SHIPPED but missing"
    assert path.stat().st_size < 5 * 2**20
    ckpt = checkpoint.load(path)  # weights_only=True
    assert ckpt["kind"] == "encoder"
    made_by = shlex.split(ckpt["provenance"]["command"])
    documented = readme_command()
    assert documented[:2] == ["imuedge", "pretrain"] and Path(made_by[0]).name == "imuedge"
    assert made_by[1:] == documented[1:], "the README's command is not the one that made the checkpoint"
    encoder = load_encoder(path)
    features = encoder(torch.randn(2, 6, 128))
    assert features.shape == (2, encoder.out_dim) and torch.isfinite(features).all()
