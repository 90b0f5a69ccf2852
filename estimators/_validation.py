"""Input checks shared by the estimators.

Every check raises ``ValueError`` (or ``TypeError`` for a wrong kind of object) with a message
that names the parameter, the rule and the offending value, e.g.
``beta must be greater than 0, not -0.1``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch

ArrayLike = Any  # numpy array, torch tensor or nested sequence of numbers


def _describe(value: Any) -> str:
    """Return a short text for ``value`` to quote in an error message."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return f"an array of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float after checking that it is finite and positive."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, not {_describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}")
    if allow_zero and value < 0:
        raise ValueError(f"{name} must be at least 0, not {value}")
    if not allow_zero and value <= 0:
        raise ValueError(f"{name} must be greater than 0, not {value}")
    return value


#: Range of the noise standard deviation: 1 / (2 beta^2) and distances in units of beta
#: must stay finite float64 numbers.
BETA_RANGE = (1e-150, 1e150)


def check_beta(beta: Any) -> float:
    """Return the noise standard deviation ``beta`` as a positive float within BETA_RANGE."""
    beta = check_positive("beta", beta)
    low, high = BETA_RANGE
    if not low <= beta <= high:
        raise ValueError(
            f"beta must lie between {low:g} and {high:g} (1 / (2 beta^2) must stay a finite "
            f"float64 number), not {beta:g}"
        )
    return beta


def check_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int after checking ``minimum <= value <= maximum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, not {_describe(value)}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, not {value}")
    return value


def check_query_count(n_mc: Any, n_queries: Any) -> tuple[int, int | None]:
    """Return (n_mc, n_queries) after checking them; they are alternatives to each other."""
    n_mc = check_int("n_mc", n_mc, minimum=1)
    if n_queries is not None:
        n_queries = check_int("n_queries", n_queries, minimum=1)
        if n_mc != 1:
            raise ValueError(
                f"n_mc and n_queries are alternatives; give n_queries only with n_mc=1, "
                f"not n_mc={n_mc}"
            )
    return n_mc, n_queries


def check_seed(seed: Any) -> int | None:
    """Return ``seed`` unchanged after checking that it is None or a non-negative int."""
    if seed is None:
        return None
    return check_int("seed", seed, minimum=0)


def as_tensor(
    name: str,
    value: ArrayLike,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    min_rows: int = 1,
) -> torch.Tensor:
    """Convert ``value`` to a finite torch tensor and check its shape.

    numpy arrays and sequences become CPU tensors; a tensor keeps its device unless
    ``device`` is given. ``ndim`` may be one number of dimensions or several allowed ones.
    """
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be an array of numbers, not {_describe(value)}") from exc
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
        ):
            raise TypeError(f"{name} must be an array of numbers, not {_describe(value)}")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.is_complex():
        raise TypeError(f"{name} must be real, not complex")
    tensor = tensor.to(dtype=dtype, device=device if device is not None else tensor.device)

    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if tensor.ndim not in allowed:
            wanted = " or ".join(str(n) for n in allowed)
            raise ValueError(
                f"{name} must have {wanted} dimensions, not {tensor.ndim} "
                f"(shape {tuple(tensor.shape)})"
            )
    if tensor.ndim >= 1 and tensor.shape[0] < min_rows:
        raise ValueError(
            f"{name} must have at least {min_rows} row{'s' if min_rows != 1 else ''}, "
            f"not {tensor.shape[0]}"
        )
    if tensor.numel() == 0:
        raise ValueError(f"{name} must not be empty (shape {tuple(tensor.shape)})")
    if not _all_finite(tensor):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(f"{name} must contain only finite values, not {bad} NaN or infinite")
    return tensor


def _all_finite(tensor: torch.Tensor) -> bool:
    """Return whether every entry is finite; numpy's check is several times quicker on CPU."""
    if tensor.device.type == "cpu":
        return bool(np.isfinite(tensor.numpy()).all())
    return bool(torch.isfinite(tensor).all())


def as_labels(name: str, value: ArrayLike, length: int) -> np.ndarray:
    """Return labels as a 1-D numpy array of ``length`` entries (any hashable numeric kind)."""
    labels = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, not of shape {labels.shape}")
    if labels.shape[0] != length:
        raise ValueError(f"{name} must have one entry per input ({length}), not {labels.shape[0]}")
    if np.issubdtype(labels.dtype, np.floating) and not np.isfinite(labels).all():
        raise ValueError(f"{name} must contain only finite values")
    return labels
