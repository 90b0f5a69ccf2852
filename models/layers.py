"""Activations and the noisy layer T_l = f_l(T_{l-1}) + Z_l of section 2.1.

A noisy layer returns both the clean value S_l = f_l(T_{l-1}) and the noisy value T_l. Whether
noise is drawn is an argument of every call (``noise=True``), never a consequence of the
module's ``train()`` / ``eval()`` state; that state only switches batch norm between batch
statistics and running statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from estimators._validation import check_positive

NOISE_KINDS = ("additive", "dropout")


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    """Return the leaky ReLU of section 4, R(x) = max(x, x/10)."""
    return torch.maximum(x, x / 10)


def linear(x: torch.Tensor) -> torch.Tensor:
    """Return ``x`` unchanged (the identity nonlinearity of the linear SZT model)."""
    return x


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": leaky_relu,
    "linear": linear,
}


def get_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return the nonlinearity called ``name``.

    Parameters
    ----------
    name : str
        One of ``"tanh"``, ``"relu"``, ``"leaky_relu"`` (R(x) = max(x, x/10)) or ``"linear"``.

    Raises
    ------
    ValueError
        If ``name`` is not one of these.
    """
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {name!r}")
    return ACTIVATIONS[name]


def check_noise_kind(noise: str) -> str:
    """Return ``noise`` after checking that it is ``"additive"`` or ``"dropout"``."""
    if not isinstance(noise, str) or noise not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {list(NOISE_KINDS)}, not {noise!r}")
    return noise


def check_dropout_p(dropout_p: float) -> float:
    """Return the dropout probability after checking 0 <= p < 1."""
    dropout_p = check_positive("dropout_p", dropout_p, allow_zero=True)
    if dropout_p >= 1:
        raise ValueError(f"dropout_p must be less than 1, not {dropout_p}")
    return dropout_p


class LayerOutput(NamedTuple):
    """The two values of one layer: ``clean`` is S_l = f_l(T_{l-1}), ``noisy`` is T_l."""

    clean: torch.Tensor
    noisy: torch.Tensor


def apply_noise(
    clean: torch.Tensor,
    *,
    kind: str,
    beta: float,
    dropout_p: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Return ``clean`` with additive Gaussian noise N(0, beta^2) or inverted dropout.

    Parameters
    ----------
    clean : torch.Tensor
        The clean values S_l.
    kind : {"additive", "dropout"}
        Additive Gaussian noise of standard deviation ``beta``, or dropout that zeroes each
        value with probability ``dropout_p`` and scales the others by 1 / (1 - p), so that the
        mean is kept as in :class:`torch.nn.Dropout`.
    beta, dropout_p : float
        Noise standard deviation and dropout probability.
    generator : torch.Generator, optional
        Random stream of the draw; it must live on the device of ``clean``.

    Returns
    -------
    torch.Tensor
        The noisy values T_l, a new tensor (``clean`` is not modified).
    """
    if kind == "additive":
        if beta == 0:
            return clean
        noise = torch.randn(
            clean.shape, generator=generator, device=clean.device, dtype=clean.dtype
        )
        return clean + beta * noise
    if dropout_p == 0:
        return clean
    keep = torch.rand(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
    return clean * (keep >= dropout_p).to(clean.dtype) / (1 - dropout_p)


class NoisyLinear(nn.Module):
    """One fully connected noisy layer: T = sigma(BN(W t + b)) + Z.

    Parameters
    ----------
    in_features, out_features : int
        Widths d_{l-1} and d_l.
    activation : str
        Name of the nonlinearity sigma (see :func:`get_activation`).
    batch_norm : bool, default=False
        Insert a batch norm between the affine map and the nonlinearity.
    """

    def __init__(
        self, in_features: int, out_features: int, activation: str, *, batch_norm: bool = False
    ) -> None:
        super().__init__()
        self.activation_name = activation
        self.activation = get_activation(activation)
        self.linear = nn.Linear(in_features, out_features)
        self.norm = nn.BatchNorm1d(out_features) if batch_norm else None

    def clean(self, x: torch.Tensor) -> torch.Tensor:
        """Return S = sigma(BN(W x + b)) without noise."""
        pre = self.linear(x)
        if self.norm is not None:
            pre = self.norm(pre)
        return self.activation(pre)
