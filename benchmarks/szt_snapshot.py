"""Time one sample-propagation snapshot of the SZT network, against the authors' way.

The snapshot: the SZT tanh network (12-10-7-5-4-3-2, beta = 0.005, seed 0) at epoch 0 and
after 2000 epochs of default training (Adam, learning rate 4e-4, batch 256); all 4096
inputs x 64 replicas; h(T) on the pooled 262 144 samples; paired queries, two per input;
I(X; T) and I(Y; T) of all 5 hidden layers with Monte Carlo standard errors.

Both ways below evaluate the same samples at the same query points:

* ours: ``mixture_log_density`` for the pooled and the per-class mixtures and
  ``batched_mixture_log_density`` for the 4096 conditional mixtures (method "auto");
* the authors' way: scikit-learn ``KernelDensity(bandwidth=beta, rtol=1e-3)``, one fit per
  mixture (pooled, each class, each input).

Layer 1 is a function of X, so its conditional density is one Gaussian and h(T|X) is known
(footnote 8); its pooled mixture has the 4096 distinct centres (the 64 replicas coincide).
The product's own estimator, ``sample_propagation_mi``, is timed on the same samples too
(it draws its own queries from the same seed).

Run ``python benchmarks/szt_snapshot.py`` (``--epochs 200`` for a shorter training run,
``--skip-authors`` to leave out scikit-learn).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from estimators import (  # noqa: E402
    SampleSizeWarning,
    batched_mixture_log_density,
    mixture_log_density,
    sample_propagation_mi,
)

BETA = 0.005
REPLICAS = 64
QUERIES_PER_INPUT = 2


@dataclass
class LayerResult:
    """I(X;T) and I(Y;T) of one layer with their standard errors, and time per part."""

    layer: int
    d: int
    mi: float
    mi_se: float
    label_mi: float
    label_mi_se: float
    seconds: dict[str, float] = field(default_factory=dict)


def paired_queries(
    samples: np.ndarray, beta: float, per_input: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return queries (m, k, d) drawn from each input's mixture, and their replica indices.

    Each query is one of the input's replicas (distinct ones while there are enough) plus
    N(0, beta^2 I) noise, so it serves both log g_i(q) and log g(q).
    """
    rng = np.random.default_rng(seed)
    m, r, d = samples.shape
    choice = np.argsort(rng.random((m, r)), axis=1)[:, :per_input] if r > 1 else None
    if choice is None:
        choice = np.zeros((m, per_input), dtype=np.int64)
    centres = np.take_along_axis(samples, choice[:, :, None], axis=1)
    return centres + beta * rng.standard_normal((m, per_input, d)), choice


def _mean_se(terms: np.ndarray) -> tuple[float, float]:
    """Return the mean of the terms and its standard error."""
    terms = terms.ravel()
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(terms.size))


def gaussian_log_density(points: np.ndarray, means: np.ndarray, beta: float) -> np.ndarray:
    """Return log N(points; means, beta^2 I) over the last axis."""
    d = points.shape[-1]
    dist = ((points - means) ** 2).sum(axis=-1)
    return -dist / (2 * beta**2) - 0.5 * d * math.log(2 * math.pi * beta**2)


def estimate_layer(
    evaluate_pooled,
    evaluate_conditional,
    samples: np.ndarray,
    queries: np.ndarray,
    choice: np.ndarray,
    labels: np.ndarray | None,
    deterministic: bool,
    beta: float,
) -> tuple[float, float, float, float, dict[str, float]]:
    """Return I(X;T), its stderr, I(Y;T), its stderr and the time per part for one layer.

    ``evaluate_pooled(points, centers)`` returns log g of one mixture at its points, and
    ``evaluate_conditional(points (m, k, d), centers (m, r, d))`` that of m mixtures.
    """
    m, k, d = queries.shape
    centres = samples[:, :1] if deterministic else samples
    flat_queries = queries.reshape(-1, d)
    seconds = {}

    start = time.perf_counter()
    log_pooled = evaluate_pooled(flat_queries, centres.reshape(-1, d)).reshape(m, k)
    seconds["pooled"] = time.perf_counter() - start

    start = time.perf_counter()
    if deterministic:
        log_conditional = gaussian_log_density(queries, samples[:, :1], beta)
    else:
        log_conditional = evaluate_conditional(queries, samples)
    seconds["conditional"] = time.perf_counter() - start
    mi, mi_se = _mean_se(log_conditional - log_pooled)

    label_mi = label_mi_se = math.nan
    if labels is not None:
        start = time.perf_counter()
        log_class = np.empty_like(log_pooled)
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            log_class[members] = evaluate_pooled(
                queries[members].reshape(-1, d), centres[members].reshape(-1, d)
            ).reshape(len(members), k)
        seconds["labels"] = time.perf_counter() - start
        label_mi, label_mi_se = _mean_se(log_class - log_pooled)
    return mi, mi_se, label_mi, label_mi_se, seconds


def ours(beta: float):
    """Return the pooled and conditional evaluators of the product (method "auto")."""

    def pooled(points, centers):
        return mixture_log_density(points, centers, beta)

    def conditional(points, centers):
        return batched_mixture_log_density(points, centers, beta)

    return pooled, conditional


def authors(beta: float):
    """Return the evaluators of the authors' way: one scikit-learn KDE fit per mixture."""
    from sklearn.neighbors import KernelDensity

    def pooled(points, centers):
        return KernelDensity(bandwidth=beta, rtol=1e-3).fit(centers).score_samples(points)

    def conditional(points, centers):
        out = np.empty(points.shape[:2])
        for i in range(points.shape[0]):
            kde = KernelDensity(bandwidth=beta, rtol=1e-3).fit(centers[i])
            out[i] = kde.score_samples(points[i])
        return out

    return pooled, conditional


def snapshot(
    layers: list[np.ndarray],
    deterministic: list[bool],
    labels: np.ndarray | None,
    beta: float,
    per_input: int,
    evaluators,
    seed: int = 0,
) -> list[LayerResult]:
    """Estimate every layer with one pair of evaluators on seeded paired queries."""
    results = []
    for number, (samples, fixed) in enumerate(zip(layers, deterministic, strict=True), 1):
        queries, choice = paired_queries(samples, beta, per_input, seed + number)
        mi, mi_se, label_mi, label_se, seconds = estimate_layer(
            *evaluators, samples, queries, choice, labels, fixed, beta
        )
        results.append(
            LayerResult(number, samples.shape[2], mi, mi_se, label_mi, label_se, seconds)
        )
    return results


def product_estimates(
    layers: list[np.ndarray],
    deterministic: list[bool],
    labels: np.ndarray | None,
    beta: float,
    n_queries: int,
    seed: int = 0,
) -> tuple[list, float]:
    """Run ``sample_propagation_mi`` on every layer; return the results and the time."""
    start = time.perf_counter()
    results = []
    for samples, fixed in zip(layers, deterministic, strict=True):
        results.append(
            sample_propagation_mi(
                samples[:, :1] if fixed else samples,
                beta,
                labels=labels,
                deterministic=fixed,
                n_queries=n_queries,
                seed=seed,
            )
        )
    return results, time.perf_counter() - start


def part_totals(results: list[LayerResult]) -> dict[str, float]:
    """Return the seconds per part summed over the layers."""
    totals: dict[str, float] = {}
    for result in results:
        for part, seconds in result.seconds.items():
            totals[part] = totals.get(part, 0.0) + seconds
    return totals


def print_snapshot(
    title: str,
    sampling_s: float,
    mine: list[LayerResult],
    theirs: list[LayerResult] | None,
    product: list | None,
    product_s: float | None,
) -> None:
    """Print the estimates side by side, then the time per part and the totals."""
    print(f"\n{title}")
    header = (
        f"{'layer':>5} {'d':>3} | {'I(X;T) ours':>19} {'sklearn':>8} {'diff':>9} | "
        f"{'I(Y;T) ours':>19} {'sklearn':>8} | {'SP estimator I(X;T)':>20} {'I(Y;T)':>16}"
    )
    print(header)
    print("-" * len(header))
    for i, r in enumerate(mine):
        t = theirs[i] if theirs else None
        p = product[i] if product else None
        their_mi = f"{t.mi:8.4f}" if t else f"{'-':>8}"
        diff = f"{r.mi - t.mi:9.1e}" if t else f"{'-':>9}"
        their_label = f"{t.label_mi:8.4f}" if t else f"{'-':>8}"
        sp = f"{p.mi.value:9.4f} ± {p.mi.stderr:.4f}" if p else f"{'-':>20}"
        sp_label = (
            f"{p.label_mi.value:7.4f} ± {p.label_mi.stderr:.4f}"
            if p and p.label_mi is not None
            else f"{'-':>16}"
        )
        print(
            f"{r.layer:5d} {r.d:3d} | {r.mi:9.4f} ± {r.mi_se:.4f}   {their_mi} {diff} | "
            f"{r.label_mi:9.4f} ± {r.label_mi_se:.4f}   {their_label} | {sp:>20} {sp_label:>16}"
        )

    mine_parts = part_totals(mine)
    their_parts = part_totals(theirs) if theirs else {}
    print(f"\n{'part':>22} | {'ours s':>9} {'sklearn s':>10} {'ratio':>7}")
    print(f"{'sampling (shared)':>22} | {sampling_s:9.3f} {sampling_s:10.3f} {'':>7}")
    for part in ("pooled", "labels", "conditional"):
        label = {
            "pooled": "pooled mixture h(T)",
            "labels": "class mixtures h(T|Y)",
            "conditional": "conditional h(T|X)",
        }[part]
        ours_s = mine_parts.get(part, 0.0)
        theirs_s = their_parts.get(part)
        if theirs_s is None:
            print(f"{label:>22} | {ours_s:9.3f} {'-':>10} {'':>7}")
        else:
            print(f"{label:>22} | {ours_s:9.3f} {theirs_s:10.3f} {theirs_s / ours_s:7.1f}")
    ours_total = sum(mine_parts.values())
    line = f"{'estimation total':>22} | {ours_total:9.3f}"
    if their_parts:
        their_total = sum(their_parts.values())
        line += f" {their_total:10.3f} {their_total / ours_total:7.1f}"
    print(line)
    line = f"{'snapshot total':>22} | {sampling_s + ours_total:9.3f}"
    if their_parts:
        line += f" {sampling_s + their_total:10.3f} "
        line += f"{(sampling_s + their_total) / (sampling_s + ours_total):7.1f}"
    print(line)
    if product_s is not None:
        print(
            f"{'sample_propagation_mi':>22} | {product_s:9.3f}   (all layers, its own "
            "paired queries, same count)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2000, help="training epochs")
    parser.add_argument("--replicas", type=int, default=REPLICAS)
    parser.add_argument("--skip-authors", action="store_true", help="leave out scikit-learn")
    args = parser.parse_args(argv)
    # At these settings Theorem 5's worst-case sample size is far out of reach, as in the
    # paper; the warning would repeat for every layer.
    warnings.simplefilter("ignore", SampleSizeWarning)
    print("SampleSizeWarning is silenced: Theorem 5's worst-case n is not met here.")

    import models

    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, torch threads "
        f"{torch.get_num_threads()}"
    )
    spec = models.get_example("szt")
    model = spec.build_model(seed=0)
    data = spec.load_data(seed=0)
    labels = data.estimation_y.numpy()
    defaults = spec.trainer_defaults() | {"epochs": max(1, args.epochs)}
    trainer = models.Trainer(model, data, **defaults, seed=0, device="cpu")

    # Warm the kernels once, so that compile or cache loading is not timed.
    warm = np.random.default_rng(0).random((2, 70, 3))
    batched_mixture_log_density(warm, warm, BETA)
    mixture_log_density(warm[0], warm[0], BETA)

    for epoch in sorted({0, args.epochs}):
        if epoch > trainer.epoch:
            start = time.perf_counter()
            trainer.train_epochs(epoch - trainer.epoch)
            print(
                f"\ntrained to epoch {epoch} in {time.perf_counter() - start:.1f} s, "
                f"{trainer.evaluate()}"
            )

        start = time.perf_counter()
        hidden = models.sample_hidden_layers(
            trainer.model, data.estimation_x, args.replicas, seed=epoch
        )
        layers = [layer.cpu().numpy().astype(np.float64) for layer in hidden.layers]
        sampling_s = time.perf_counter() - start

        mine = snapshot(layers, hidden.deterministic, labels, BETA, QUERIES_PER_INPUT, ours(BETA))
        theirs = None
        if not args.skip_authors:
            theirs = snapshot(
                layers, hidden.deterministic, labels, BETA, QUERIES_PER_INPUT, authors(BETA)
            )
        product, product_s = product_estimates(
            layers, hidden.deterministic, labels, BETA, QUERIES_PER_INPUT * len(labels)
        )
        print_snapshot(
            f"SZT tanh, beta={BETA}, epoch {epoch}: {len(labels)} inputs x {args.replicas} "
            f"replicas, {QUERIES_PER_INPUT} paired queries per input (nats)",
            sampling_s,
            mine,
            theirs,
            product,
            product_s,
        )


if __name__ == "__main__":
    main()
