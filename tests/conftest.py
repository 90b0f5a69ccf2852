"""Shared fixtures.

``device`` runs a test on the CPU and, when present, CUDA; ``one_torch_thread`` pins torch to
one thread for the test.
"""

import pytest
import torch

_NO_CUDA = "no CUDA device; run on a machine with a GPU to enable"


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request: pytest.FixtureRequest) -> str:
    """Return a torch device name; the CUDA variant is skipped where no GPU is present."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip(_NO_CUDA)
    return request.param


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread: tiny networks are slower with several on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
