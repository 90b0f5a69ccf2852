"""Sampling the hidden layers of a noisy network for the estimators (section 3.1).

For each input x_i and each of r replicas, the input is fed through the network with fresh
noise, and the clean value S_l = f_l(T_{l-1}) of every layer is kept: the r samples of layer l
for input i are i.i.d. from p(S_l | X = x_i), and one replica per input is a sample of S_l.
The estimators add the noise Z_l themselves (eq. (6)).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from estimators._validation import check_int, check_seed

# Intermediate values a chunk may hold, in numbers; 2**23 float32 numbers are 32 MiB.
_CHUNK_BUDGET = 2**23


@dataclass(frozen=True, eq=False)
class HiddenSamples:
    """Samples of the clean values S_l of the requested layers.

    Attributes
    ----------
    layers : list of torch.Tensor
        One tensor of shape ``(m, r, d_l)`` per requested layer: inputs, replicas, width.
    deterministic : list of bool
        Whether S_l is a deterministic function of X (layer 1, or a network without noise);
        then all r replicas are equal and h(T_l | X) = (d_l / 2) ln(2 pi e beta^2).
    widths : list of int
        The widths d_l.
    layer_numbers : list of int
        The paper's numbers of the returned layers, from 1.
    beta : float
        The network's noise standard deviation.
    """

    layers: list[torch.Tensor]
    deterministic: list[bool]
    widths: list[int]
    layer_numbers: list[int]
    beta: float

    @property
    def n_inputs(self) -> int:
        """Number m of inputs."""
        return int(self.layers[0].shape[0])

    @property
    def n_replicas(self) -> int:
        """Number r of replicas per input."""
        return int(self.layers[0].shape[1])


def _check_layers(layers: Sequence[int] | None, n_reported: int) -> list[int]:
    """Return the requested layer numbers, checked against 1 ... n_reported."""
    if layers is None:
        return list(range(1, n_reported + 1))
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
        raise ValueError(f"layers must be a non-empty sequence of layer numbers, not {layers!r}")
    return [
        check_int(f"layers[{i}]", number, minimum=1, maximum=n_reported)
        for i, number in enumerate(layers)
    ]


def sample_hidden_layers(
    model: nn.Module,
    inputs: torch.Tensor,
    replicas: int,
    *,
    seed: int | None = None,
    dtype: torch.dtype = torch.float32,
    chunk_size: int | None = None,
    layers: Sequence[int] | None = None,
) -> HiddenSamples:
    """Sample S_l for every input, r times each, with noise propagated through earlier layers.

    Parameters
    ----------
    model : NoisyMLP or MnistCNN
        The network. Batch norm runs in eval mode while sampling; the model's parameters,
        buffers and train/eval mode are as before when the function returns.
    inputs : torch.Tensor or array
        The m inputs, each used once, in the shape the model takes.
    replicas : int
        Number r of noise realisations per input.
    seed : int, optional
        Seed of the function's own random stream (a fresh ``torch.Generator``); it never
        touches the global stream or the training streams. None draws a fresh seed.
    dtype : torch.dtype, default=torch.float32
        ``torch.float32`` or ``torch.float64``. The network is evaluated in this precision
        (a copy of the model is converted when its parameters differ).
    chunk_size : int, optional
        Number of inputs propagated at once (each repeated r times); by default chosen so a
        chunk holds about 2**23 intermediate numbers.
    layers : sequence of int, optional
        Layer numbers to keep (from 1); all reported layers by default.

    Returns
    -------
    HiddenSamples
        Tensors of shape (m, r, d_l) on the model's device.
    """
    if not hasattr(model, "hidden_layers") or not hasattr(model, "layer_widths"):
        raise TypeError(f"model must be a noisy network of models, not {type(model).__name__}")
    replicas = check_int("replicas", replicas, minimum=1)
    seed = check_seed(seed)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, not {dtype}")
    widths = list(model.layer_widths)
    numbers = _check_layers(layers, len(widths))

    parameter = next(model.parameters())
    device = parameter.device
    inputs = torch.as_tensor(inputs).to(device=device, dtype=dtype)
    if inputs.ndim == 0 or inputs.shape[0] == 0:
        raise ValueError(f"inputs must hold at least one input, not shape {tuple(inputs.shape)}")
    m = int(inputs.shape[0])
    if chunk_size is None:
        per_input = replicas * 4 * sum(widths)
        chunk_size = max(1, _CHUNK_BUDGET // per_input)
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)

    # A copy in the wanted precision keeps the caller's model untouched.
    network = model if parameter.dtype == dtype else copy.deepcopy(model).to(dtype)
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)

    out = [torch.empty((m, replicas, widths[n - 1]), dtype=dtype, device=device) for n in numbers]
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            for start in range(0, m, chunk_size):
                chunk = inputs[start : start + chunk_size]
                size = int(chunk.shape[0])
                repeated = chunk.repeat_interleave(replicas, dim=0)
                outputs = network.hidden_layers(repeated, noise=True, generator=generator)
                for tensor, number in zip(out, numbers, strict=True):
                    clean = outputs[number - 1].clean
                    tensor[start : start + size] = clean.reshape(size, replicas, -1)
    finally:
        network.train(was_training)

    noisy = bool(getattr(model, "is_noisy", True))
    return HiddenSamples(
        layers=out,
        deterministic=[number == 1 or not noisy for number in numbers],
        widths=[widths[n - 1] for n in numbers],
        layer_numbers=numbers,
        beta=float(model.beta),
    )
