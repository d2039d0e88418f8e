"""The shipped generators -- the STFT diffusion teacher and its 4-, 2- and 1-step students (train/weights/diffusion_*.pt),
the latent model and its students (train/weights/latent_*.pt): each small, loads without running pickled code, is the
file SHA256SUMS records, was made by the command the weights' README gives (the recorded command, parsed, builds the
recorded configuration), and samples windows."""
import argparse
import hashlib
import json
import shlex
from dataclasses import asdict

import pytest
import torch

from imuedge import checkpoint
from imuedge.train.models import WEIGHTS

TEACHER = "diffusion_teacher.pt"
STUDENTS = {4: "diffusion_student_4.pt", 2: "diffusion_student_2.pt", 1: "diffusion_student_1.pt"}
SECTION = "\n## Diffusion generator: "
LATENT = "latent_generator.pt"
LATENT_STUDENTS = {4: "latent_student_4.pt", 2: "latent_student_2.pt", 1: "latent_student_1.pt"}
LATENT_SECTION = "\n## Latent diffusion generator: "


def readme_commands(heading: str = SECTION) -> list[str]:
    """Every command (continuation lines joined) in the bash blocks of the weights README's section ``heading``."""
    text = (WEIGHTS / "README.md").read_text()
    assert heading in text, f"train/weights/README.md has no section {heading.strip()!r}"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in section.split("```bash\n")[1:]:
        joined = block.split("```", 1)[0].replace("\\\n", " ")
        commands += [" ".join(line.split()) for line in joined.splitlines() if line.strip()]
    return commands


def recorded_sum(name: str) -> str:
    for line in (WEIGHTS / "SHA256SUMS").read_text().splitlines():
        if line.strip() and line.split(maxsplit=1)[1].lstrip("*") == name:
            return line.split()[0]
    raise AssertionError(f"train/weights/SHA256SUMS has no line for {name}")


def parsed(command: str, add_arguments, config_from_args, program_words: int) -> dict:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return json.loads(json.dumps(asdict(config_from_args(p.parse_args(shlex.split(command)[program_words:])))))


def shipped(name: str, heading: str) -> tuple[dict, str]:
    """The shipped file ``name`` checked as every shipped generator is -- present, at most 5 MB, the file
    SHA256SUMS records, loading with ``weights_only`` -- and made by a command of the README's section
    ``heading``: its checkpoint and that command."""
    path = WEIGHTS / name
    assert path.is_file(), f"{path} is missing"
    assert path.stat().st_size <= 5 * 2**20
    assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded_sum(name), f"{name} is not the recorded file"
    ckpt = checkpoint.load(path)  # weights_only=True
    command = ckpt["provenance"]["command"]
    assert command in readme_commands(heading), f"the README does not give the command that made {name}: {command}"
    return ckpt, command


@pytest.mark.parametrize("name", [TEACHER, *STUDENTS.values()])
def test_shipped_generator_file_is_small_safe_recorded_and_made_by_its_documented_command(name):
    ckpt, command = shipped(name, SECTION)
    if name == TEACHER:
        from imuedge.train.diffusion.train import add_arguments, config_from_args

        assert ckpt["kind"] == "diffusion_teacher" and command.startswith("python -m imuedge.train.diffusion.train ")
        made, recorded = parsed(command, add_arguments, config_from_args, 3), json.loads(json.dumps(ckpt["train"]["config"]))
        assert made["model"].pop("class_names") == []  # filled in from the data while training
        assert recorded["model"].pop("class_names") == ["walking", "walking_upstairs", "walking_downstairs",
                                                        "sitting", "standing", "laying"]
        assert made == recorded
    else:
        from imuedge.train.diffusion.distill import add_arguments, config_from_args

        assert ckpt["kind"] == "diffusion_student" and command.startswith("imuedge diffusion distill ")
        from imuedge.train.diffusion.distill import DistillConfig

        made, recorded = parsed(command, add_arguments, config_from_args, 3), ckpt["distill"]["config"]
        newer = {k: made.pop(k) for k in list(made) if k not in recorded}  # options added after that run
        assert newer == {k: getattr(DistillConfig(), k) for k in newer}
        assert made == json.loads(json.dumps(recorded))
        assert ckpt["distill"]["teacher_sha256"] == recorded_sum(TEACHER), "distilled from another teacher"


@pytest.mark.parametrize("name", [LATENT, *LATENT_STUDENTS.values()])
def test_shipped_latent_generator_file_is_small_safe_recorded_and_made_by_its_documented_command(name):
    ckpt, command = shipped(name, LATENT_SECTION)
    if name == LATENT:
        from imuedge.train.diffusion.latent_train import add_latent_arguments, latent_config_from_args

        assert ckpt["kind"] == "latent_diffusion" and command.startswith("imuedge diffusion latent ")
        made = parsed(command, add_latent_arguments, latent_config_from_args, 3)
        recorded = json.loads(json.dumps(ckpt["train"]["config"]))
        for filled in ("class_names", "channels", "vae"):  # filled in from the data and the VAE while training
            made["model"].pop(filled), recorded["model"].pop(filled)
        assert made == recorded
        assert ckpt["windows"] == {"split_seed": 0, "subjects": [], "hop": 16}
    else:
        from imuedge.train.diffusion.distill import add_arguments, config_from_args

        assert ckpt["kind"] == "diffusion_student" and ckpt["teacher_kind"] == "latent_diffusion"
        made, recorded = parsed(command, add_arguments, config_from_args, 3), ckpt["distill"]["config"]
        assert made == json.loads(json.dumps(recorded))
        assert ckpt["distill"]["teacher_sha256"] == recorded_sum(LATENT), "distilled from another latent model"


@pytest.mark.parametrize("name", [*STUDENTS.values(), *LATENT_STUDENTS.values()])
def test_shipped_student_samples_windows_of_every_class(name):
    from imuedge.train.diffusion.distill import load_student

    steps = int(name.split("_")[-1][:-3])
    sampler, ckpt = load_student(WEIGHTS / name)
    assert ckpt["steps"] == steps == sampler.steps
    z = torch.randn(6, *sampler.noise_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x = sampler(z, torch.arange(6))
    assert x.shape == (6, 6, 128) and torch.isfinite(x).all()
    assert 2 < float(x[:, :3].norm(dim=1).mean()) < 30  # m/s^2: gravity is there, not a unit-scale latent
