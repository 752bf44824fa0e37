import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    """Tests may share 2 cores with other work: one thread avoids OpenMP oversubscription."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
