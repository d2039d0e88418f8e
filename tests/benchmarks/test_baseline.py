"""``benchmarks.baseline.module_at``: a file as it was at a commit, importable beside today's code. Run on a
throwaway git repository, so the test needs git but not this project's history."""
import shutil
import subprocess

import pytest

from benchmarks import baseline

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_a_file_at_an_earlier_commit_with_its_relative_imports_and_dataclasses(tmp_path, monkeypatch):
    git(tmp_path, "init", "-q")
    source = tmp_path / "decoder.py"
    body = ("from dataclasses import dataclass\nfrom .blocks import SampleBlock\nVERSION = {v}\n\n"
            "@dataclass\nclass Seen:\n    n: int = 0\n")
    source.write_text(body.format(v=1))
    git(tmp_path, "add", "decoder.py")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    first = git(tmp_path, "rev-parse", "--short", "HEAD")
    source.write_text(body.format(v=2))
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", "two")
    monkeypatch.setattr(baseline, "ROOT", tmp_path)

    old = baseline.module_at("decoder.py", first, package="imuedge.firmware_bridge.profiles")
    assert old.VERSION == 1 and old.__name__ == f"decoder_{first}"
    assert old.SampleBlock.__module__ == "imuedge.firmware_bridge.profiles.blocks"  # today's, by the package
    assert old.Seen(3).n == 3  # a dataclass finds its module
    assert baseline.module_at("decoder.py", "HEAD", package="imuedge.firmware_bridge.profiles").VERSION == 2
    with pytest.raises(subprocess.CalledProcessError):
        baseline.module_at("decoder.py", "0000000")
