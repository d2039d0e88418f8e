"""The shipped pretrained encoder (train/weights/): small, loads without running pickled code, works, is the
file whose sha256 is recorded beside it, and was made by the command its README gives."""
import hashlib
import shlex
from pathlib import Path

import pytest
import torch

from imuedge import checkpoint
from imuedge.train.models import SHIPPED, WEIGHTS, load_encoder


def readme_command(name: str) -> list[str]:
    """The ``imuedge`` command of the first bash block in the README's section on ``name``."""
    text = (WEIGHTS / "README.md").read_text()
    heading = f"\n## `{name}`\n"
    assert heading in text, f"train/weights/README.md has no section {heading.strip()}"
    block = text.split(heading, 1)[1].split("\n## ", 1)[0].split("```bash\n", 1)[1].split("```", 1)[0]
    line = " ".join(part.strip().rstrip("\\") for part in block.splitlines() if part.strip().startswith(("imuedge", "--")))
    return shlex.split(line)


def recorded_sums() -> dict[str, str]:
    """``train/weights/SHA256SUMS`` (``sha256sum`` format): file name -> sha256."""
    sums = {}
    for line in (WEIGHTS / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums


def test_every_shipped_file_has_the_sha256_recorded_beside_it():
    sums = recorded_sums()
    shipped = sorted(p.name for p in WEIGHTS.glob("*.pt"))
    assert shipped and sorted(sums) == shipped, "every .pt in train/weights/ is listed in SHA256SUMS, and only those"
    for name, digest in sums.items():
        assert hashlib.sha256((WEIGHTS / name).read_bytes()).hexdigest() == digest, f"{name} is not the recorded file"


@pytest.mark.parametrize("label", sorted(SHIPPED))
def test_shipped_encoder_is_small_safe_and_made_by_its_documented_command(label):
    path = SHIPPED[label]
    assert path.is_file(), f"{path} is listed in SHIPPED but missing"
    assert path.stat().st_size < 5 * 2**20
    ckpt = checkpoint.load(path)  # weights_only=True
    assert ckpt["kind"] == "encoder"
    made_by = shlex.split(ckpt["provenance"]["command"])
    documented = readme_command(path.name)
    assert documented[:2] == ["imuedge", "pretrain"] and made_by[0] == "imuedge"
    assert made_by[1:] == documented[1:], "the README's command is not the one that made the checkpoint"
    encoder = load_encoder(path)
    features = encoder(torch.randn(2, 6, 128))
    assert features.shape == (2, encoder.out_dim) and torch.isfinite(features).all()


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(SHIPPED))
def test_the_recorded_command_rebuilds_the_shipped_configuration(tmp_path, label):
    """The shipped encoder's recorded command, run here for 2 steps into a scratch folder (the full run takes
    ~20 min on 2 CPU cores), makes an encoder of the same configuration: every pretraining setting equal to
    the shipped checkpoint's but the step count and the output folder."""
    from imuedge.cli import main

    shipped = checkpoint.load(SHIPPED[label])
    argv = shlex.split(shipped["provenance"]["command"])[1:]
    for flag, value in (("--steps", "2"), ("--out", str(tmp_path / "run"))):
        argv[argv.index(flag) + 1] = value
    assert main(argv) == 0
    made = checkpoint.load(tmp_path / "run" / "encoder.pt")
    want, got = dict(shipped["pretrain"]["config"]), dict(made["pretrain"]["config"])
    assert (got.pop("steps"), got.pop("out")) == (2, str(tmp_path / "run"))
    want.pop("steps"), want.pop("out")
    assert got == want
    assert made["model"] == shipped["model"] and made["pretrain"]["step"] == 2
    assert made.get("window") == shipped.get("window"), "the windows it records (rate, length) differ"
    assert set(made["state_dict"]) == set(shipped["state_dict"])


def test_the_shipped_mae_encoder_pools_its_tokens_by_mean_and_std():
    """train/weights/README.md: mae_edge.pt's features are the tokens' means and standard deviations
    (chosen on the validation subjects), 2 x 128 features."""
    encoder = load_encoder(SHIPPED["MAE (raw IMU), shipped"])
    assert encoder.config["pool"] == "mean_std" and encoder.out_dim == 256
