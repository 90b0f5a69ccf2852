"""Shared fixtures: the ``device`` fixture runs a test on the CPU and, when present, CUDA."""

import pytest
import torch

_NO_CUDA = "no CUDA device; run on a machine with a GPU to enable"


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request: pytest.FixtureRequest) -> str:
    """Return a torch device name; the CUDA variant is skipped where no GPU is present."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip(_NO_CUDA)
    return request.param
