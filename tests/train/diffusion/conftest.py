import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: on a shared 2-core machine two threads contend and run ~50x slower.
    Modules that want it say ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def resumed_from():
    """``resumed_from(last, folder, edit=None)``: a copy of a stage's *_last.pt in a new run folder (so the stage
    resumes from it there); ``edit(train_state)`` changes it first."""
    from imuedge import checkpoint

    def copy(last, folder, edit=None):
        ckpt = checkpoint.load(last)
        if edit:
            edit(ckpt["train_state"])
        checkpoint.save(ckpt, folder / last.name)
        return folder
    return copy
