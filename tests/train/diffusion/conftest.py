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
