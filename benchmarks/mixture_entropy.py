"""Time the Gaussian-mixture log density against scikit-learn's KernelDensity.

For each case (n, d, beta) the centres are tanh(2 N(0, I)) and there is one query per centre,
q = mu + beta z. Printed side by side:

* the time of ``mixture_log_density`` (method "auto": the pruned kernel on the CPU), of its
  exact path (method "exact") and of ``KernelDensity(bandwidth=beta, rtol=1e-3)`` (fit plus
  ``score_samples``, which returns log g exactly for a Gaussian kernel), and the ratios;
* the largest error of "auto" and of scikit-learn against the exact float64 evaluation;
* kernel terms evaluated per second and the terms the tolerance needs, next to the
  throughput of ``numpy.exp`` on the same machine;
* the peak resident memory of a fresh process that evaluates 10^5 queries under 10^5
  centres, and the cost of the first call in a fresh process once the kernels are cached.

Times are the best of several repeats, because the machine may be shared. The kernel and
scikit-learn are timed in alternation, round after round, so that both see the same spells
of a busy machine; in each round scikit-learn fits once and the kernel runs for about as
long (its best time in the round counts). Besides the ratio of the best times the table
gives the median of the ratios within rounds.

Run ``python benchmarks/mixture_entropy.py`` (``--device cuda`` times the torch paths on a
GPU; scikit-learn always runs on the CPU).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numba
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from estimators import mixture_log_density  # noqa: E402
from estimators._kernel import BLOCK_SIZE, batched_log_sum  # noqa: E402

CASES = [(4096, 10, 0.005), (4096, 10, 0.1), (16384, 5, 0.1), (4096, 3, 0.005)]
TOL = 1e-6


def best_time(call, repeats: int) -> tuple[float, object]:
    """Return the shortest wall time of ``repeats`` calls and the last result."""
    best = math.inf
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def make_case(n: int, d: int, beta: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return centres tanh(2 N(0, I)) and one query mu + beta z per centre."""
    rng = np.random.default_rng(seed)
    centers = np.tanh(2.0 * rng.standard_normal((n, d)))
    points = centers + beta * rng.standard_normal((n, d))
    return centers, points


def terms_needed(points: np.ndarray, centers: np.ndarray, beta: float, tol: float) -> int:
    """Return the fewest (query, centre) terms that meet the tolerance, summed over queries.

    For each query: the number of largest terms whose sum leaves out less than ``tol`` of
    the total, the least work any method that skips whole terms must do.
    """
    centers_t = torch.from_numpy(centers)
    total = 0
    for start in range(0, len(points), 512):
        chunk = torch.from_numpy(points[start : start + 512])
        dist = torch.cdist(chunk, centers_t, compute_mode="donot_use_mm_for_euclid_dist") ** 2
        terms = torch.exp(-(dist - dist.min(dim=1, keepdim=True).values) / (2 * beta**2))
        ordered = terms.sort(dim=1, descending=True).values
        kept = ordered.cumsum(dim=1)
        # Smallest k with total - kept[k - 1] <= tol * total.
        enough = kept >= (1.0 - tol) * kept[:, -1:]
        total += int((~enough).sum()) + len(chunk)
    return total


def numpy_exp_rate() -> float:
    """Return numpy's exp evaluations per second on one core (best of five)."""
    values = -np.random.default_rng(0).uniform(0.0, 20.0, 10**7)
    out = np.empty_like(values)
    seconds, _ = best_time(lambda: np.exp(values, out=out), 5)
    return values.size / seconds


def kernel_density_log_g(points: np.ndarray, centers: np.ndarray, beta: float) -> np.ndarray:
    """Return scikit-learn's log density, the authors' evaluation (tree, rtol=1e-3)."""
    from sklearn.neighbors import KernelDensity

    return KernelDensity(bandwidth=beta, rtol=1e-3).fit(centers).score_samples(points)


def interleaved_times(calls: dict, rounds: int, inner: dict) -> dict[str, list[float]]:
    """Time each call of ``calls`` once per round, in turn; return each call's times.

    A call named in ``inner`` runs that many times per round and keeps its best, so a
    fast call is timed as often as a slow one needs to be.
    """
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            times[name].append(best_time(call, inner.get(name, 1))[0])
    return times


def run_cases(device: str, repeats: int, with_sklearn: bool = True) -> list[dict]:
    """Time every case; return one row of figures per case."""
    rows = []
    for n, d, beta in CASES:
        centers, points = make_case(n, d, beta)
        centers_t = torch.from_numpy(centers).to(device)
        points_t = torch.from_numpy(points).to(device)

        # Warm every path once, so compile and allocation are not timed.
        exact = mixture_log_density(points_t, centers_t, beta, method="exact")
        mixture_log_density(points_t, centers_t, beta, tol=TOL)

        auto = mixture_log_density(points_t, centers_t, beta, tol=TOL)
        calls = {
            "auto": lambda c=centers_t, p=points_t, b=beta: mixture_log_density(p, c, b, tol=TOL)
        }
        inner = 3
        if with_sklearn:
            start = time.perf_counter()
            sk = kernel_density_log_g(points, centers, beta)
            t_sk_once = time.perf_counter() - start
            calls["sk"] = lambda c=centers, p=points, b=beta: kernel_density_log_g(p, c, b)
            # Each round gives both about the same wall time: the fast call is repeated
            # until it has run as long as one scikit-learn fit. Right after that fit the
            # first few calls are slow (idle threads wake, caches refill), and three
            # repeats did not get past them.
            t_auto_once = best_time(calls["auto"], 3)[0]
            inner = min(50, max(3, math.ceil(t_sk_once / t_auto_once)))
        rounds = max(1, repeats // 3)
        times = interleaved_times(calls, rounds, {"auto": inner})
        t_auto = min(times["auto"])
        # One thread as well: a per-core comparison with scikit-learn, which uses one,
        # and a figure that holds up when other work competes for the cores.
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        t_auto_1, _ = best_time(
            lambda c=centers_t, p=points_t, b=beta: mixture_log_density(p, c, b, tol=TOL),
            repeats,
        )
        numba.set_num_threads(threads)
        t_exact, _ = best_time(
            lambda c=centers_t, p=points_t, b=beta: mixture_log_density(p, c, b, method="exact"),
            max(1, repeats // 10),
        )
        row = {
            "n": n,
            "d": d,
            "beta": beta,
            "auto_s": t_auto,
            "auto_1_s": t_auto_1,
            "exact_s": t_exact,
            "auto_err": float(np.abs(auto - exact).max()),
        }
        if with_sklearn:
            ratios = np.array(times["sk"]) / np.array(times["auto"])
            row.update(
                sk_s=min(times["sk"]),
                sk_err=float(np.abs(sk - exact).max()),
                sk_ratio_median=float(np.median(ratios)),
            )

        if device == "cpu":
            # Work done by the kernel alone, on the same inputs.
            visited = np.empty((1, n), np.int64)
            screened = np.empty((1, n), np.int64)
            t_kernel, _ = best_time(
                lambda c=centers, p=points, b=beta, v=visited, s=screened: batched_log_sum(
                    p[None], c[None], b, -math.expm1(-TOL), blocks_visited=v, blocks_screened=s
                ),
                repeats,
            )
            row.update(
                kernel_s=t_kernel,
                evaluated=int(visited.sum()) * BLOCK_SIZE,
                screened=int(screened.sum()) * BLOCK_SIZE,
                needed=terms_needed(points, centers, beta, -math.expm1(-TOL)),
            )
        rows.append(row)
    return rows


def print_cases(rows: list[dict], device: str) -> None:
    """Print the timing table and, for the CPU, the throughput table."""
    print(f"\nmixture_log_density on {device}, tol = {TOL:g} nats; best of several runs")
    threads = numba.get_num_threads()
    header = (
        f"{'n':>6} {'d':>3} {'beta':>6} | {'auto s':>9} {'1 thread':>9} {'exact s':>9} "
        f"{'sklearn s':>9} | {'sk/auto':>7} {'median':>6} {'sk/1 thr':>8} {'exact/auto':>10} | "
        f"{'auto err':>9} {'sklearn err':>11}"
    )
    print(
        f"auto: {threads} numba threads; 1 thread: the same call on one; sk/auto: ratio of "
        "the best times,\nmedian: median of the ratios within rounds of alternating runs"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        sk = f"{r['sk_s']:9.4f}" if "sk_s" in r else f"{'-':>9}"
        ratio = f"{r['sk_s'] / r['auto_s']:7.1f}" if "sk_s" in r else f"{'-':>7}"
        median = f"{r['sk_ratio_median']:6.1f}" if "sk_s" in r else f"{'-':>6}"
        ratio_1 = f"{r['sk_s'] / r['auto_1_s']:8.1f}" if "sk_s" in r else f"{'-':>8}"
        sk_err = f"{r['sk_err']:11.2e}" if "sk_err" in r else f"{'-':>11}"
        print(
            f"{r['n']:6d} {r['d']:3d} {r['beta']:6.3f} | {r['auto_s']:9.5f} "
            f"{r['auto_1_s']:9.5f} {r['exact_s']:9.4f} {sk} | {ratio} {median} {ratio_1} "
            f"{r['exact_s'] / r['auto_s']:10.1f} | {r['auto_err']:9.2e} {sk_err}"
        )

    if "evaluated" not in rows[0]:
        return
    rate = numpy_exp_rate()
    threads = numba.get_num_threads()
    print(f"\nkernel work against numpy.exp ({rate:.3g} exp/s on one core, {threads} threads)")
    header = (
        f"{'n':>6} {'d':>3} {'beta':>6} | {'kernel s':>9} {'evaluated':>11} {'screened':>10} "
        f"{'needed':>9} {'all pairs':>11} | {'eval/s':>9} {'needed/s':>9} | "
        f"{'eval/s / np.exp':>15}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        eval_rate = r["evaluated"] / r["kernel_s"]
        print(
            f"{r['n']:6d} {r['d']:3d} {r['beta']:6.3f} | {r['kernel_s']:9.5f} "
            f"{r['evaluated']:11d} {r['screened']:10d} {r['needed']:9d} {r['n'] ** 2:11d} | "
            f"{eval_rate:9.3g} {r['needed'] / r['kernel_s']:9.3g} | "
            f"{eval_rate / (rate * threads):15.2f}"
        )
    print(
        "evaluated: terms whose distance and exponential were computed in float64; "
        "screened:\nterms of blocks that a float32 distance pass ruled out (a float32 "
        "distance each, no exp).\neval/s / np.exp compares the kernel's float64 terms per "
        "second with numpy's exp on all\nthreads; each kernel term also forms a "
        "d-dimensional distance."
    )


def child_python(code: str, env: dict | None = None) -> str:
    """Run ``code`` in a fresh interpreter at the repository root; return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def print_memory(n: int = 10**5, d: int = 10, beta: float = 0.005) -> None:
    """Print the peak resident memory of a fresh process evaluating n queries x n centres."""
    out = child_python(
        f"""
        import resource, time
        import numpy as np
        from estimators import mixture_log_density
        rng = np.random.default_rng(0)
        centers = np.tanh(2.0 * rng.standard_normal(({n}, {d})))
        points = centers + {beta} * rng.standard_normal(({n}, {d}))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        mixture_log_density(points, centers, {beta})
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(before, after, seconds)
        """
    )
    before, after, seconds = out.split()
    inputs = 2 * n * d * 8 / 2**20
    print(
        f"\npeak memory, fresh process, {n} queries x {n} centres (d={d}, beta={beta}): "
        f"{int(after) / 2**20:.2f} GiB "
        f"(after imports and inputs {int(before) / 2**20:.2f} GiB; inputs {inputs:.0f} MiB; "
        f"call {float(seconds):.2f} s); limit 2 GiB"
    )


def print_first_call() -> None:
    """Print import time and first/second call time of a fresh process (cached kernels)."""
    code = """
        import time
        start = time.perf_counter()
        import numpy as np
        import estimators
        imported = time.perf_counter() - start
        rng = np.random.default_rng(0)
        centers = np.tanh(2.0 * rng.standard_normal((4096, 10)))
        points = centers + 0.005 * rng.standard_normal((4096, 10))
        times = []
        for _ in range(2):
            start = time.perf_counter()
            estimators.mixture_log_density(points, centers, 0.005)
            times.append(time.perf_counter() - start)
        print(imported, *times)
        """
    child_python(code)  # makes sure every kernel is in the disk cache
    imported, first, second = (float(x) for x in child_python(code).split())
    print(
        f"\nfresh process with cached kernels: import estimators {imported:.2f} s, "
        f"first call {first:.3f} s, second call {second:.4f} s (n = 4096, d = 10); "
        "limit 0.5 s for the first call"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device of the inputs")
    parser.add_argument(
        "--repeats",
        type=int,
        default=30,
        help="timed runs of the kernel paths (a third as many for sklearn, fewer for exact)",
    )
    parser.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn")
    parser.add_argument(
        "--skip-subprocess", action="store_true", help="skip the memory and first-call runs"
    )
    args = parser.parse_args(argv)

    print(
        f"numpy {np.__version__}, torch {torch.__version__}, numba {numba.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    rows = run_cases(args.device, args.repeats, with_sklearn=not args.no_sklearn)
    print_cases(rows, args.device)
    if not args.skip_subprocess:
        print_memory()
        print_first_call()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak memory of this process: {peak:.2f} GiB")


if __name__ == "__main__":
    main()
