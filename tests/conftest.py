import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    """Tests may share 2 cores with other work: one thread avoids OpenMP oversubscription."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _in_a_temporary_directory(tmp_path_factory, monkeypatch):
    """Every test runs in its own temporary working directory: a default run directory (runs/...) never
    lands in the checkout."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    yield
