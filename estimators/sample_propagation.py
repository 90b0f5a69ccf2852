"""The sample-propagation (SP) estimator of I(X; T) for a noisy layer, eq. (6).

A layer's output is T = S + Z with S the clean value f(T_prev) and Z ~ N(0, beta^2 I). With
X uniform on m inputs and r replicas of S drawn for each input (different noise upstream),

    I(X; T) = h(p_T) - (1/m) sum_i h(p_{T | X = x_i}),

and SP replaces p_T by the Gaussian mixture on all m r clean samples and p_{T | X = x_i} by
the mixture on input i's r samples. The entropies are computed by Monte Carlo with paired
queries: points q drawn from each input's conditional mixture serve both terms, so the
estimate is the mean of log g_i(q) - log g(q). Every such term is at most log m, and the
common random numbers cancel most of the Monte Carlo noise of the two entropies.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._validation import (
    ArrayLike,
    as_labels,
    as_tensor,
    check_beta,
    check_int,
    check_positive,
    check_query_count,
    check_seed,
)
from .mixture import Estimate, _check_method, _generator, _log_density, _mean_estimate
from .theory import bias_sample_size, log_bias_sample_size

__all__ = [
    "BootstrapMI",
    "MutualInformation",
    "SampleSizeWarning",
    "bootstrap_mi",
    "sample_propagation_mi",
]

logger = logging.getLogger(__name__)

# Theorem 5's free parameter for the bias warning, the value section 3.4.1 discusses.
_BIAS_EPS = 0.01

# (d, beta, n) triples already warned about, so that a long run warns once per layer shape.
_warned: set[tuple[int, float, int]] = set()


class SampleSizeWarning(UserWarning):
    """Too few samples for Theorem 5's worst-case guarantee of negligible SP bias."""


@dataclass(frozen=True)
class MutualInformation:
    """The SP estimate of I(X; T) and the entropies it is made of, all in nats.

    Attributes
    ----------
    mi : Estimate
        I(X; T) = h(T) - h(T | X).
    label_mi : Estimate or None
        I(Y; T) = h(T) - sum_y p(y) h(T | Y = y), when labels were given.
    entropy : Estimate
        h(T), the entropy of the mixture on all samples.
    conditional_entropy : Estimate
        h(T | X), the mean entropy of the per-input mixtures (exact, stderr 0, for a
        deterministic layer).
    n_inputs, n_replicas, n_queries, d : int
        m, r, the number of Monte Carlo query points and the dimension of the layer.
    beta : float
        Noise standard deviation.
    """

    mi: Estimate
    label_mi: Estimate | None
    entropy: Estimate
    conditional_entropy: Estimate
    n_inputs: int
    n_replicas: int
    n_queries: int
    d: int
    beta: float


@dataclass(frozen=True)
class BootstrapMI:
    """A bootstrap over inputs and replicas of the SP estimate.

    Attributes
    ----------
    estimate : MutualInformation
        The estimate on the samples as given.
    values : numpy.ndarray, shape (n_boot,)
        I(X; T) on each bootstrap resample, in nats.
    std : float
        Standard deviation of ``values``: the sampling error of section 3.4.1.
    interval : tuple of float
        Percentile interval of ``values`` at ``level``.
    level : float
        Coverage of the interval.
    label_values, label_std, label_interval
        The same for I(Y; T), or None without labels.
    """

    estimate: MutualInformation
    values: np.ndarray
    std: float
    interval: tuple[float, float]
    level: float
    label_values: np.ndarray | None = None
    label_std: float | None = None
    label_interval: tuple[float, float] | None = None


def _gaussian_entropy(d: int, beta: float) -> float:
    """Return h(N(0, beta^2 I_d)) = d/2 log(2 pi e beta^2)."""
    return 0.5 * d * math.log(2.0 * math.pi * math.e * beta**2)


def _warn_if_biased(d: int, beta: float, n: int, what: str) -> None:
    """Warn once per (d, beta, n) when n is below Theorem 5's k*^(d (1 - eps))."""
    key = (d, beta, n)
    if key in _warned:
        return
    try:
        needed = bias_sample_size(d, beta, _BIAS_EPS)
        log_needed = log_bias_sample_size(d, beta, _BIAS_EPS)
    except ValueError:
        # eps = 0.01 is outside Theorem 5's range here (large beta): no bound applies.
        return
    if n >= needed:
        return

    _warned.add(key)
    shown = f"{needed:.4g}" if log_needed < 30 else f"about 10^{log_needed / math.log(10):.0f}"
    warnings.warn(
        f"{what} has n={n} samples in d={d} dimensions at beta={beta:g}; Theorem 5 asks for "
        f"n > k*^(d(1-eps)) = {shown} (eps={_BIAS_EPS}) to rule out bias. This is a "
        f"worst-case bound over all distributions on [-1, 1]^d, so the estimate may still be "
        f"accurate",
        SampleSizeWarning,
        stacklevel=3,
    )


def _check_flag(name: str, value: Any) -> bool:
    """Return ``value`` after checking that it is a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return bool(value)


def _replica_choices(
    n_inputs: int, n_replicas: int, per_input: int, generator: torch.Generator
) -> torch.Tensor:
    """Return (m, k) replica indices; each input uses its replicas equally often, up to one.

    Every index is marginally uniform over the replicas, so a mean over an input's queries
    is unbiased for its equally weighted conditional mixture.
    """
    full, rest = divmod(per_input, n_replicas)
    parts = [torch.arange(n_replicas).repeat(full).expand(n_inputs, -1)]
    if rest:
        order = torch.rand((n_inputs, n_replicas), generator=generator).argsort(dim=1)
        parts.append(order[:, :rest])
    return torch.cat(parts, dim=1)


def _defensive_noise(
    noise: torch.Tensor, scale: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Widen the standard normal noise of a random half of the queries by ``scale``.

    Each query's noise is thereby a draw from the even mixture of N(0, I) and
    N(0, scale^2 I), independently of which replica it starts from, and its weight
    N(u; 0, I) / (1/2 N(u; 0, I) + 1/2 N(u; 0, scale^2 I)) <= 2 makes every weighted mean
    unbiased for the mean under the plain noise. Returns the noise and the weights.
    """
    d = noise.shape[-1]
    wide = torch.rand(noise.shape[:2], generator=generator) < 0.5
    widened = noise * torch.where(wide, scale, 1.0).to(noise.dtype)[..., None]
    squared = (widened**2).sum(dim=-1)
    log_target = -0.5 * squared
    log_wide = -0.5 * squared / scale**2 - d * math.log(scale)
    log_weights = math.log(2.0) + log_target - torch.logaddexp(log_target, log_wide)
    return widened, torch.exp(log_weights)


def _weighted_estimate(terms: torch.Tensor, weights: torch.Tensor | None) -> Estimate:
    """Mean of importance-weighted terms and its standard error (plain mean without weights)."""
    return _mean_estimate(terms if weights is None else weights * terms)


def sample_propagation_mi(
    samples: ArrayLike,
    beta: float,
    *,
    labels: ArrayLike | None = None,
    deterministic: bool = False,
    n_mc: int = 1,
    n_queries: int | None = None,
    seed: int | None = None,
    method: str = "auto",
    tol: float = 1e-6,
    proposal_scale: float | None = None,
) -> MutualInformation:
    """Estimate I(X; T) of a noisy layer by sample propagation, eq. (6).

    Parameters
    ----------
    samples : array_like or torch.Tensor, shape (m, r, d)
        Clean values S = f(T_prev) of the layer: r replicas for each of the m inputs, each
        input once (X uniform on the inputs). Never the noisy T, which would add the noise
        twice.
    beta : float
        Standard deviation of the layer's noise, greater than 0.
    labels : array_like, shape (m,), optional
        One class label per input; adds I(Y; T) on the same query points.
    deterministic : bool, default=False
        S is a function of X (the first noisy layer), so r must be 1 and
        h(T | X) = d/2 log(2 pi e beta^2) exactly (footnote 8).
    n_mc : int, default=1
        Query points per sample, so r n_mc per input.
    n_queries : int, optional
        Total number of query points instead of ``n_mc``, spread evenly over the inputs
        (rounded up to a multiple of m so that every input has the same number).
    seed : int, optional
        Seed for the query points; None draws fresh ones.
    method : {"auto", "exact"}, default="auto"
        Evaluation method of the mixture densities, see ``mixture_log_density``.
    tol : float, default=1e-6
        Absolute error in nats allowed to approximate evaluation methods.
    proposal_scale : float, optional
        Draw every second query's noise with standard deviation ``proposal_scale * beta``
        instead of ``beta`` and weight all terms by the density ratio (defensive importance
        sampling, unbiased, weights at most 2). None, the default, is plain Monte Carlo as in
        eqs. (15)-(16). See Notes for when it matters.

    Returns
    -------
    MutualInformation
        ``mi``, ``label_mi``, ``entropy`` and ``conditional_entropy`` as ``Estimate`` in
        nats, with Monte Carlo standard errors from the spread of the per-query terms.
        Negative estimates are reported as they are.

    Warns
    -----
    SampleSizeWarning
        Once per (d, beta, n), when a mixture has fewer samples n than Theorem 5's
        k*^(d (1 - eps)) at eps = 0.01.

    Notes
    -----
    Queries are drawn from each input's conditional mixture and serve both entropies, so
    every term of I = mean[log g_i(q) - log g(q)] is at most log m (plus ``tol`` where an
    approximate method evaluates the densities). With labels,
    I(Y; T) = mean[log g_y(q) - log g(q)] where g_y pools the inputs of class y, weighted by
    p(y) = m_y / m through the queries' inputs.

    For a deterministic layer the conditional log density log g_i(q) is that of one
    Gaussian, whose mean is known, so h(T) is reported as h(Z) + mean[log g_i(q) - log g(q)]:
    the same expectation as -mean log g(q) with a much smaller variance, and
    ``mi = entropy - conditional_entropy`` holds exactly.

    When the components are far apart compared with beta (I close to log m), the per-query
    terms are log m minus a log-normal-like tail whose mass sits between components, where
    plain Monte Carlo rarely looks: its estimate is then biased upwards by much more than
    its reported standard error (hundreds of standard errors for the tanh neuron of section
    4 near saturation). ``proposal_scale`` (2 is a good choice) sends half of the queries
    wider, so that region is sampled and the standard error becomes trustworthy. In many
    dimensions the wide half carries little weight, so it roughly doubles the variance; the
    runner uses it for one-dimensional layers.

    The Monte Carlo error is only part of the uncertainty; :func:`bootstrap_mi` adds the
    sampling error over inputs and replicas.
    """
    beta = check_beta(beta)
    deterministic = _check_flag("deterministic", deterministic)
    n_mc, n_queries = check_query_count(n_mc, n_queries)
    seed = check_seed(seed)
    method = _check_method(method)
    tol = check_positive("tol", tol)
    if proposal_scale is not None:
        proposal_scale = check_positive("proposal_scale", proposal_scale)
        if proposal_scale <= 1:
            raise ValueError(f"proposal_scale must be greater than 1, not {proposal_scale}")
    samples_t = as_tensor("samples", samples, ndim=3)
    n_inputs, n_replicas, d = samples_t.shape
    if deterministic and n_replicas != 1:
        raise ValueError(
            f"deterministic=True needs one replica per input (samples of shape (m, 1, d)), "
            f"not {n_replicas} replicas"
        )
    label_array = None if labels is None else as_labels("labels", labels, n_inputs)

    _warn_if_biased(d, beta, n_inputs * n_replicas, "The mixture for h(T)")
    if not deterministic:
        _warn_if_biased(d, beta, n_replicas, "Each mixture for h(T|X=x)")

    # Paired queries: k per input, each from one of the input's replicas plus fresh noise.
    per_input = n_replicas * n_mc if n_queries is None else -(-n_queries // n_inputs)
    generator = _generator(seed)
    choices = _replica_choices(n_inputs, n_replicas, per_input, generator)
    noise = torch.randn((n_inputs, per_input, d), generator=generator, dtype=torch.float64)
    weights = None
    if proposal_scale is not None:
        noise, weights = _defensive_noise(noise, proposal_scale, generator)
    device = samples_t.device
    rows = torch.arange(n_inputs)[:, None].expand(-1, per_input)
    queries = samples_t[rows.to(device), choices.to(device)] + beta * noise.to(device)
    if weights is not None:
        weights = weights.to(device)
    logger.debug("SP: m=%d r=%d d=%d, %d queries per input", n_inputs, n_replicas, d, per_input)

    flat_queries = queries.reshape(1, -1, d)
    log_pooled = _log_density(flat_queries, samples_t.reshape(1, -1, d), beta, method, tol)
    log_pooled = log_pooled.reshape(n_inputs, per_input)
    log_conditional = _log_density(queries, samples_t, beta, method, tol)
    mi = _weighted_estimate(log_conditional - log_pooled, weights)

    if deterministic:
        exact = _gaussian_entropy(d, beta)
        conditional_entropy = Estimate(exact, 0.0)
        entropy = Estimate(mi.value + exact, mi.stderr)
    else:
        conditional_entropy = _weighted_estimate(-log_conditional, weights)
        entropy = _weighted_estimate(-log_pooled, weights)

    label_mi = None
    if label_array is not None:
        log_class = torch.empty_like(log_pooled)
        for label in np.unique(label_array):
            members = torch.from_numpy(np.flatnonzero(label_array == label)).to(device)
            class_queries = queries[members].reshape(1, -1, d)
            class_samples = samples_t[members].reshape(1, -1, d)
            log_g = _log_density(class_queries, class_samples, beta, method, tol)
            log_class[members] = log_g.reshape(len(members), per_input)
        label_mi = _weighted_estimate(log_class - log_pooled, weights)

    return MutualInformation(
        mi=mi,
        label_mi=label_mi,
        entropy=entropy,
        conditional_entropy=conditional_entropy,
        n_inputs=n_inputs,
        n_replicas=n_replicas,
        n_queries=n_inputs * per_input,
        d=d,
        beta=beta,
    )


def _percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Return the central percentile interval of ``values`` with coverage ``level``."""
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_mi(
    samples: ArrayLike,
    beta: float,
    *,
    n_boot: int = 50,
    labels: ArrayLike | None = None,
    deterministic: bool = False,
    n_mc: int = 1,
    n_queries: int | None = None,
    seed: int | None = None,
    method: str = "auto",
    tol: float = 1e-6,
    level: float = 0.95,
    proposal_scale: float | None = None,
) -> BootstrapMI:
    """Bootstrap the SP estimate over inputs and replicas (section 3.4.1).

    Each resample draws m inputs with replacement and, for each, r of its replicas with
    replacement, then runs :func:`sample_propagation_mi` on it with fresh queries.

    Parameters
    ----------
    samples, beta, labels, deterministic, n_mc, n_queries, method, tol, proposal_scale
        As in :func:`sample_propagation_mi`.
    n_boot : int, default=50
        Number of bootstrap resamples, at least 2.
    seed : int, optional
        Seed for the point estimate (the same as ``sample_propagation_mi`` with this seed)
        and, through derived seeds, for the resamples.
    level : float, default=0.95
        Coverage of the percentile interval, strictly between 0 and 1.

    Returns
    -------
    BootstrapMI
        The point estimate, the bootstrap values of I(X; T) (and I(Y; T)), their standard
        deviation and percentile interval.

    Notes
    -----
    Drawing inputs with replacement repeats some of them, which shrinks the mixture for
    h(T) to fewer distinct centres; the bootstrap values therefore sit somewhat below the
    point estimate when the mixture's components are well separated. Their spread is the
    useful part: it measures how much the estimate moves with the sample.
    """
    n_boot = check_int("n_boot", n_boot, minimum=2)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, not {level!r}")
    seed = check_seed(seed)
    samples_t = as_tensor("samples", samples, ndim=3)
    n_inputs, n_replicas, _ = samples_t.shape
    label_array = None if labels is None else as_labels("labels", labels, n_inputs)
    options = {"deterministic": deterministic, "n_mc": n_mc, "n_queries": n_queries}
    options.update(method=method, tol=tol, proposal_scale=proposal_scale)

    estimate = sample_propagation_mi(samples_t, beta, labels=label_array, seed=seed, **options)

    # Independent streams for the resampling and each resample's queries.
    streams = np.random.SeedSequence(seed).spawn(n_boot)
    values = np.empty(n_boot)
    label_values = None if label_array is None else np.empty(n_boot)
    for b, stream in enumerate(streams):
        rng = np.random.default_rng(stream)
        inputs = rng.integers(0, n_inputs, size=n_inputs)
        replicas = rng.integers(0, n_replicas, size=(n_inputs, n_replicas))
        index_inputs = torch.from_numpy(inputs[:, None]).to(samples_t.device)
        index_replicas = torch.from_numpy(replicas).to(samples_t.device)
        resample = samples_t[index_inputs, index_replicas]
        result = sample_propagation_mi(
            resample,
            beta,
            labels=None if label_array is None else label_array[inputs],
            seed=int(rng.integers(2**62)),
            **options,
        )
        values[b] = result.mi.value
        if label_values is not None:
            label_values[b] = result.label_mi.value

    return BootstrapMI(
        estimate=estimate,
        values=values,
        std=float(values.std(ddof=1)),
        interval=_percentile_interval(values, level),
        level=float(level),
        label_values=label_values,
        label_std=None if label_values is None else float(label_values.std(ddof=1)),
        label_interval=None if label_values is None else _percentile_interval(label_values, level),
    )
