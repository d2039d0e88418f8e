"""Checkpoints load weights-only: nothing pickled runs, and a refusal says what and where in one line."""
import pytest
import torch

from imuedge import checkpoint
from imuedge.command_line import command_line


class Payload:
    """An object whose unpickling would run code (print), as a hostile checkpoint's would."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_checkpoint_carrying_a_pickled_object_is_refused(tmp_path, capsys):
    path = tmp_path / "hostile.pt"
    torch.save({"format": checkpoint.FORMAT, "version": 1, "kind": "classifier", "extra": Payload()}, path)
    with pytest.raises(checkpoint.CheckpointError) as info:
        checkpoint.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: refused: it holds a pickled Python object (print) that loading would")
    assert "weights_only" in message and "\n" not in message
    assert "this must never run" not in capsys.readouterr().out


def test_a_plain_checkpoint_round_trips(tmp_path):
    path = checkpoint.save({"kind": "encoder", "state_dict": {"w": torch.arange(3.0)}, "note": [1, "a"]},
                           tmp_path / "ok.pt")
    obj = checkpoint.load(path)
    assert obj["format"] == checkpoint.FORMAT and obj["note"] == [1, "a"] and torch.equal(obj["state_dict"]["w"],
                                                                                        torch.arange(3.0))


@pytest.mark.parametrize("data, why", [(b"", "cannot be read as a checkpoint"),
                                       (b"not a zip at all", "cannot be read as a checkpoint")])
def test_unreadable_files_are_named(tmp_path, data, why):
    path = tmp_path / "bad.pt"
    path.write_bytes(data)
    with pytest.raises(checkpoint.CheckpointError, match=why) as info:
        checkpoint.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_recorded_commands_are_relative_to_the_repository(monkeypatch, tmp_path):
    from imuedge.command_line import REPOSITORY

    monkeypatch.chdir(REPOSITORY)
    argv = [str(REPOSITORY / ".venv" / "bin" / "imuedge"), "export", str(REPOSITORY / "reports" / "c.pt"),
            "--out", str(tmp_path / "b")]
    assert command_line(argv) == f"imuedge export reports/c.pt --out {tmp_path / 'b'}"
    assert checkpoint.provenance()["command"] == command_line()


def test_a_truncated_checkpoint_is_named_in_one_sentence_without_the_readers_advice(tmp_path):
    good = checkpoint.save({"kind": "encoder", "state_dict": {"w": torch.zeros(4096)}}, tmp_path / "ok.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:100])  # a copy that stopped early: no zip central directory
    with pytest.raises(checkpoint.CheckpointError) as info:
        checkpoint.load(cut)
    message = str(info.value)
    assert message.startswith(f"{cut}: cannot be read as a checkpoint (RuntimeError: ") and "\n" not in message
    assert message.endswith("); it may be truncated or not an imuedge checkpoint"), message
    assert "If you are seeing this error" not in message and ". " not in message.split("(", 1)[1].split(")")[0]


def test_the_code_version_is_read_once_when_the_module_loads_not_at_each_save(monkeypatch, tmp_path):
    """A checkpoint records the code the process ran: a commit made while a long run trains must not show up in
    the checkpoints it writes afterwards."""
    first = checkpoint._CODE_VERSION
    assert first and first == checkpoint.code_version()

    def read_again():
        raise AssertionError("the code version was read again at save time")

    monkeypatch.setattr(checkpoint, "_read_code_version", read_again)
    path = checkpoint.save({"kind": "encoder", "state_dict": {}, "provenance": checkpoint.provenance()},
                           tmp_path / "c.pt")
    assert checkpoint.load(path)["provenance"]["code_version"] == first
