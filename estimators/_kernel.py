"""Pruned evaluation of Gaussian-mixture log-sum-exp on the CPU (numba).

For query points q and centres mu_1..mu_n the quantity needed by every mixture density is

    L(q) = log sum_i exp(-D_i / (2 beta^2)),    D_i = |q - mu_i|^2.

When beta is small compared with the spread of the centres, nearly all terms are negligible
next to the largest one. The kernel here skips them with a guarantee:

* The centres of a mixture are sorted into a kd-tree whose leaves are blocks of
  ``BLOCK_SIZE`` centres; every node keeps the bounding box of its centres.
* A query walks the tree, down the side of each split that holds it first, keeping the
  smallest squared distance m' met so far and the running sum
  S' = sum exp(-(D_i - m') / (2 beta^2)) over the centres summed so far. A node is
  skipped when a lower bound of the squared distance from q to its box (the box distance
  itself, or for a node still waiting on the stack its parent's bound raised by the gap
  along the parent's split side) exceeds m' + 2 beta^2 [ln(n / tol) - ln max(1, S')];
  inside a visited block, single centres beyond that threshold (with m' the nearest
  distance including the block's own, and S' the sum before the block, re-referenced to
  that m') are dropped the same way. Where many centres crowd around q, S' grows and the
  threshold tightens.

Error bound
-----------
Let A = sum_i exp(-D_i / (2 beta^2)) be the exact sum, m = min_i D_i, and A' the computed
one. A centre skipped while the walk stood at (m', S') has a term below
exp(-m' / (2 beta^2)) tol / (n max(1, S')). If S' <= 1 this is at most
exp(-m / (2 beta^2)) tol / n <= tol A / n, because m' >= m and the nearest centre alone
contributes exp(-m / (2 beta^2)) to A. If S' > 1 it is tol / n times the mass
exp(-m' / (2 beta^2)) S' summed so far, which cannot exceed A. The nearest centre itself is
never skipped (S' <= n, so the threshold stays above m' + 2 beta^2 ln(1 / tol) >= m), so at
most n - 1 centres are omitted, their total is below tol A (n - 1) / n, and
A (1 - tol) < A' <= A. In logarithms, with L = log A:

    0 <= L - L' < -log(1 - tol (n - 1) / n) < tol / (1 - tol),

that is, the pruned value is never above the exact one and at most about ``tol`` nats
below it (1.000001e-6 nats for the default tol = 1e-6; callers that want at most t nats
pass tol = 1 - exp(-t)). On top of this come floating-point rounding errors: distances are
formed from coordinate differences in float64 (no |q|^2 + |mu|^2 - 2 q.mu cancellation),
sums are accumulated in float64 relative to the nearest distance (so log-sum-exp stays
stable however far q is), and each exponential is a degree-11 polynomial with relative
error below 2e-14; the rounding adds about 1e-13 nats to the bound for moderate exponents,
the same order as the exact float64 path.

Screening
---------
From dimension 16 on, a block that the tree did not rule out is first measured in float32
(centres and query rounded to float32, distances summed in float32: half the memory and
twice the lanes per instruction). With u = 2^-24, M_k the largest |mu_k| of the mixture and
L the current skip limit on squared distances, rounding analysis of those operations gives,
for every lane,

    S32 <= (1 + u)^(d + 3) (sqrt(D) + E)^2 + (d + 1) 2^-149,
    E = u sqrt(sum_k (|q_k| + M_k)^2) + 2^-148 sqrt(d),

(the difference of two rounded coordinates is off by at most u (|q_k| + M_k) plus
subnormal rounding; the subtraction, d squares and d - 1 additions each add a factor
1 + u). A block is screened out only when its smallest S32 exceeds the right-hand side with
D = L, which proves D > L for all its lanes: exactly the condition under which the walk
would have dropped them, so the error bound above is unchanged, and so is every kept term,
which is recomputed in float64. Screening is off when some |q_k| + M_k exceeds 1e15
(float32 squares could overflow) and before the first block, when L is still infinite.

Compilation and threads
-----------------------
The kernels compile on first use and are cached on disk (``cache=True``): numba writes the
cache next to this file, or, when that directory is read-only, to the user-wide cache
directory (``NUMBA_CACHE_DIR`` overrides both). Queries are spread over numba's threads;
calls from several Python threads are serialised by a lock, because numba's "workqueue"
threading layer, which this module selects unless ``NUMBA_THREADING_LAYER`` is set, cannot
run two parallel kernels at once (it is chosen because its idle workers sleep instead of
spinning against torch's threads). Jobs of at most ``_PARALLEL_PAIRS`` query-centre pairs
run on the calling thread.
"""

from __future__ import annotations

import math
import os
import threading

import numba
import numpy as np
import torch

from ._validation import ArrayLike, as_tensor, check_beta, check_positive

__all__ = [
    "BLOCK_SIZE",
    "batched_log_sum",
    "batched_pruned_log_sum",
    "pruned_log_sum",
    "warm_up",
]

#: Number of centres per leaf block. A compile-time constant, so the inner loops vectorise.
BLOCK_SIZE = 64

# Largest exponent kept: exp(-700) is still a normal float64, which the bit-level 2^k in
# _block_sum relies on. A tol below n * exp(-700) therefore behaves like tol = n * exp(-700).
_MAX_EXPONENT = 700.0

# fastmath without "nnan"/"ninf": padding lanes hold +inf, which must keep its meaning.
_FAST = {"nsz", "arcp", "contract", "reassoc"}

# Width of the running minimum in _block_min: one 512-bit register of float64.
_LANES = 8

# Traversal stack depth: the tree is balanced, so 128 levels cover any array that fits in
# memory.
_STACK = 128

# Blocks are screened in float32 from this dimension on; below it the float32 pass saves
# about what it costs (measured on tanh clouds: up to 12 % slower at d = 10, even at
# d = 12, 20 % faster at d = 16 and 40 % at d = 32).
_SCREEN_MIN_DIM = 16

# Unit roundoff of float32 and its smallest subnormal, for the screening margin.
_F32_EPS = 2.0**-24
_F32_TINY = 2.0**-149

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10

# Jobs of at most this many (query, centre) pairs run on one thread.
_PARALLEL_PAIRS = 2**22

_LOCK = threading.Lock()

# numba's OpenMP layer keeps its workers spinning between parallel regions, and so does
# torch's own OpenMP runtime; on a machine with few cores the two starve each other (median
# calls 10 to 50 times slower on 2 cores). The workqueue layer lets idle workers sleep. It
# cannot run two parallel regions at once, which _LOCK rules out for these kernels. A layer
# chosen through NUMBA_THREADING_LAYER is kept.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"


@numba.njit(cache=True, fastmath=_FAST)
def _select(keys, rows, start, stop, kth):  # pragma: no cover - compiled
    """Reorder keys[start:stop] (rows with it) so that keys before kth <= keys after."""
    left = start
    right = stop - 1
    while right > left:
        # Median of three guards against sorted input; equal keys stop both scans, so
        # many duplicates still split evenly.
        mid = (left + right) // 2
        a, b, c = keys[left], keys[mid], keys[right]
        pivot = max(min(a, b), min(max(a, b), c))
        i = left
        j = right
        while i <= j:
            while keys[i] < pivot:
                i += 1
            while keys[j] > pivot:
                j -= 1
            if i <= j:
                keys[i], keys[j] = keys[j], keys[i]
                for k in range(rows.shape[1]):
                    rows[i, k], rows[j, k] = rows[j, k], rows[i, k]
                i += 1
                j -= 1
        if kth <= j:
            right = j
        elif kth >= i:
            left = i
        else:
            break


@numba.njit(cache=True, fastmath=_FAST)
def _layout_level(
    left,
    right,
    leaf_block,
    node_start,
    node_stop,
    begin,
    end,
    next_node,
    node_base,
    block_base,
):  # pragma: no cover - compiled
    """Give the nodes begin..end-1 of one tree level their children or their leaf block.

    Nodes are numbered breadth first, so children always come after their parent and one
    level can be split in parallel. A node of b blocks splits into b // 2 full blocks on
    the left and the rest on the right: only the very last block of a tree is partial.
    A leaf's block is numbered by its first position, so blocks lie in kd order.
    """
    for local in range(begin, end):
        node = node_base + local
        start = node_start[local]
        stop = node_stop[local]
        n_blocks = (stop - start + BLOCK_SIZE - 1) // BLOCK_SIZE
        if n_blocks == 1:
            left[node] = -1
            right[node] = -1
            leaf_block[node] = block_base + start // BLOCK_SIZE
            continue
        split = start + (n_blocks // 2) * BLOCK_SIZE
        left[node] = node_base + next_node
        right[node] = node_base + next_node + 1
        leaf_block[node] = -1
        node_start[next_node] = start
        node_stop[next_node] = split
        node_start[next_node + 1] = split
        node_stop[next_node + 1] = stop
        next_node += 2
    return next_node


@numba.njit(cache=True, fastmath=_FAST)
def _process_node(work, keys, blocks, lo, hi, leaf_block, node, start, stop, split):
    """Fill a leaf's block and box, or partition an inner node's centres at ``split``.

    The split side is the widest one of a subsample: any side keeps the result exact, a
    good one only makes the pruning effective. An inner node (leaf_block < 0 on entry)
    leaves with leaf_block = -(side + 1).
    """  # pragma: no cover - compiled
    d = work.shape[1]
    block = leaf_block[node]
    if block >= 0:
        for k in range(d):
            low = np.inf
            high = -np.inf
            for lane in range(BLOCK_SIZE):
                p = start + lane
                value = work[p, k] if p < stop else np.inf
                blocks[block, k, lane] = value
                if p < stop:
                    low = min(low, value)
                    high = max(high, value)
            lo[node, k] = low
            hi[node, k] = high
        return

    step = max(1, (stop - start) // 256)
    widest = 0
    widest_spread = -1.0
    for k in range(d):
        low = np.inf
        high = -np.inf
        for p in range(start, stop, step):
            low = min(low, work[p, k])
            high = max(high, work[p, k])
        if high - low > widest_spread:
            widest = k
            widest_spread = high - low
    for p in range(start, stop):
        keys[p] = work[p, widest]
    _select(keys, work, start, stop, split)
    # An inner node records its split side as -(side + 1), for the walk's first guess.
    leaf_block[node] = -(widest + 1)


@numba.njit(cache=True, fastmath=_FAST)
def _fill_inner_boxes(lo, hi, left, right, node_base, n_nodes):  # pragma: no cover
    """Set each inner node's box to the union of its children's, from the leaves up."""
    for node in range(node_base + n_nodes - 1, node_base - 1, -1):
        if left[node] >= 0:
            for k in range(lo.shape[1]):
                lo[node, k] = min(lo[left[node], k], lo[right[node], k])
                hi[node, k] = max(hi[left[node], k], hi[right[node], k])


@numba.njit(cache=True, fastmath=_FAST)
def _build_tree(
    centers, blocks, lo, hi, left, right, leaf_block, node_base, block_base
):  # pragma: no cover - compiled
    """Sort one mixture's centres (r, d) into blocks and fill its nodes, on one thread.

    Node k of this mixture is stored at row node_base + k and node 0 is the root.
    """
    n_nodes = 2 * ((centers.shape[0] + BLOCK_SIZE - 1) // BLOCK_SIZE) - 1
    work = centers.copy()
    keys = np.empty(centers.shape[0])
    node_start = np.zeros(n_nodes, np.int64)
    node_stop = np.zeros(n_nodes, np.int64)
    node_stop[0] = centers.shape[0]
    begin, end = 0, 1
    while begin < end:
        next_node = _layout_level(
            left,
            right,
            leaf_block,
            node_start,
            node_stop,
            begin,
            end,
            end,
            node_base,
            block_base,
        )
        for local in range(begin, end):
            node = node_base + local
            split = node_start[right[node] - node_base] if left[node] >= 0 else 0
            _process_node(
                work,
                keys,
                blocks,
                lo,
                hi,
                leaf_block,
                node,
                node_start[local],
                node_stop[local],
                split,
            )
        begin, end = end, next_node
    _fill_inner_boxes(lo, hi, left, right, node_base, n_nodes)


@numba.njit(parallel=True, cache=True, fastmath=_FAST)
def _build_tree_parallel(
    centers, blocks, lo, hi, left, right, leaf_block, levels
):  # pragma: no cover - compiled
    """Build the tree of a single large mixture, its subtrees in parallel.

    The top ``levels`` levels are split on one thread; the subtrees below them, each of
    which owns a contiguous range of nodes and blocks, are then built side by side. A
    subtree of b blocks has 2 b - 1 nodes: the left child of a top node at row t is row
    t + 1 and its right child row t + 2 b_left.
    """
    n = centers.shape[0]
    work = centers.copy()
    keys = np.empty(n)
    n_tasks_max = 1 << levels
    task_start = np.empty(n_tasks_max, np.int64)
    task_stop = np.empty(n_tasks_max, np.int64)
    task_node = np.empty(n_tasks_max, np.int64)
    task_block = np.empty(n_tasks_max, np.int64)
    top = np.empty(n_tasks_max, np.int64)
    stack = np.empty((_STACK, 5), np.int64)
    stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3], stack[0, 4] = 0, 0, n, 0, 0
    depth = 1
    n_tasks = 0
    n_top = 0

    while depth > 0:
        depth -= 1
        node, start, stop, block_base, level = stack[depth]
        n_blocks = (stop - start + BLOCK_SIZE - 1) // BLOCK_SIZE
        if level == levels or n_blocks == 1:
            task_start[n_tasks] = start
            task_stop[n_tasks] = stop
            task_node[n_tasks] = node
            task_block[n_tasks] = block_base
            n_tasks += 1
            continue
        n_left = n_blocks // 2
        split = start + n_left * BLOCK_SIZE
        leaf_block[node] = -1
        _process_node(
            work,
            keys,
            blocks,
            lo,
            hi,
            leaf_block,
            node,
            start,
            stop,
            split,
        )
        left[node] = node + 1
        right[node] = node + 2 * n_left
        top[n_top] = node
        n_top += 1
        stack[depth, 0], stack[depth, 1], stack[depth, 2] = node + 2 * n_left, split, stop
        stack[depth, 3], stack[depth, 4] = block_base + n_left, level + 1
        stack[depth + 1, 0], stack[depth + 1, 1], stack[depth + 1, 2] = node + 1, start, split
        stack[depth + 1, 3], stack[depth + 1, 4] = block_base, level + 1
        depth += 2

    for t in numba.prange(n_tasks):
        _build_tree(
            work[task_start[t] : task_stop[t]],
            blocks,
            lo,
            hi,
            left,
            right,
            leaf_block,
            task_node[t],
            task_block[t],
        )

    # Top nodes were created parents first, so a backward pass sees children first.
    for i in range(n_top - 1, -1, -1):
        node = top[i]
        for k in range(lo.shape[1]):
            lo[node, k] = min(lo[left[node], k], lo[right[node], k])
            hi[node, k] = max(hi[left[node], k], hi[right[node], k])


@numba.njit(parallel=True, cache=True, fastmath=_FAST)
def _build_forest(centers, blocks, lo, hi, left, right, leaf_block):  # pragma: no cover
    """Build the tree of every mixture in ``centers`` (m, r, d), one thread per mixture."""
    n_mix = centers.shape[0]
    n_blocks = blocks.shape[0] // n_mix
    n_nodes = lo.shape[0] // n_mix
    for k in numba.prange(n_mix):
        _build_tree(centers[k], blocks, lo, hi, left, right, leaf_block, k * n_nodes, k * n_blocks)


@numba.njit(cache=True, fastmath=_FAST, inline="always")
def _box_distance(query, lo, hi, node):  # pragma: no cover - compiled
    """Return the smallest squared distance from ``query`` to the box of ``node``."""
    total = 0.0
    for k in range(query.shape[0]):
        gap = max(lo[node, k] - query[k], 0.0, query[k] - hi[node, k])
        total += gap * gap
    return total


@numba.njit(cache=True, fastmath=_FAST, inline="always")
def _block_distances(query, block, dist):  # pragma: no cover - compiled
    """Fill dist with the squared distances from ``query`` to the lanes of ``block``."""
    for lane in range(BLOCK_SIZE):
        dist[lane] = 0.0
    for k in range(query.shape[0]):
        coord = query[k]
        row = block[k]
        for lane in range(BLOCK_SIZE):
            diff = coord - row[lane]
            dist[lane] += diff * diff


@numba.njit(cache=True, fastmath=_FAST, inline="always")
def _block_min(dist, lane_min):  # pragma: no cover - compiled
    """Return min(dist), as _LANES running minima so that the loop vectorises."""
    for j in range(_LANES):
        lane_min[j] = dist[j]
    for group in range(1, BLOCK_SIZE // _LANES):
        for j in range(_LANES):
            lane_min[j] = min(lane_min[j], dist[group * _LANES + j])
    smallest = lane_min[0]
    for j in range(1, _LANES):
        smallest = min(smallest, lane_min[j])
    return smallest


@numba.njit(cache=True, fastmath=_FAST, inline="always")
def _block_sum(dist, nearest, inv_two_var, max_exponent, poly, bits, scale):
    """Return sum over lanes of exp(-(dist - nearest) * inv_two_var), dropping far lanes.

    exp(-s) = 2^k e^r with k = round(-s / ln 2) and |r| <= ln(2) / 2; e^r is a degree-11
    Taylor polynomial (relative error < 2e-14) and 2^k is assembled from its exponent bits,
    which keeps the loop free of calls so that it vectorises.
    """  # pragma: no cover - compiled
    for lane in range(BLOCK_SIZE):
        s = (dist[lane] - nearest) * inv_two_var
        keep = s <= max_exponent
        x = -min(s, max_exponent)
        k = np.floor(x * _LOG2E + 0.5)
        r = (x - k * _LN2_HI) - k * _LN2_LO
        p = 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        poly[lane] = p if keep else 0.0
        bits[lane] = (np.int64(k) + 1023) << 52
    total = 0.0
    for lane in range(BLOCK_SIZE):
        total += poly[lane] * scale[lane]
    return total


@numba.njit(cache=True, fastmath=_FAST)
def _screen_margin(query, lo, hi, root):  # pragma: no cover - compiled
    """Return (E, usable) for screening blocks in float32 (module notes, "Screening").

    E bounds the float32 rounding of the coordinate differences between ``query`` and any
    centre of the tree at ``root``, whose box gives each coordinate's largest magnitude.
    Screening is usable while every |q_k| + max |mu_k| stays below 1e15, so that no
    float32 square or sum can overflow.
    """
    sum_sq = 0.0
    largest = 0.0
    for k in range(query.shape[0]):
        size = abs(query[k]) + max(abs(lo[root, k]), abs(hi[root, k]))
        sum_sq += size * size
        largest = max(largest, size)
    margin = _F32_EPS * math.sqrt(sum_sq) + 2.0 * _F32_TINY * math.sqrt(query.shape[0])
    return margin, largest <= 1e15


@numba.njit(cache=True, fastmath=_FAST)
def _query_log_sum(
    query,
    root,
    blocks,
    blocks32,
    lo,
    hi,
    left,
    right,
    leaf_block,
    inv_two_var,
    max_exponent,
    scratch,
):  # pragma: no cover - compiled
    """Return (log sum_j exp(-|query - mu_j|^2 * inv_two_var), blocks, screened) for a tree.

    A centre is skipped when its exponent, relative to the nearest distance so far, exceeds
    max_exponent - log(max(1, running sum)); see the module notes. ``blocks`` counts the
    blocks whose terms were evaluated in float64, ``screened`` the blocks that a float32
    pass showed to lie wholly beyond the threshold. ``scratch`` holds the per-thread work
    arrays made by _scratch.
    """
    dist, poly, bits, scale, lane_min, dist32, lane_min32, query32 = scratch[0]
    stack_node, stack_bound, stack_exact = scratch[1]
    d = query.shape[0]
    # Screening state: 1 possible but not prepared, 2 prepared, 0 not used. It is prepared
    # when a second block is reached, which many queries never do.
    screen = 1 if d <= 2**20 else 0
    margin = growth = floor = 0.0
    screened_limit = np.nan  # the limit that screen_limit was computed for
    nearest = np.inf
    total = 0.0
    exponent_limit = max_exponent
    limit = np.inf
    screen_limit = np.inf
    stack_node[0] = root
    stack_bound[0] = 0.0
    stack_exact[0] = True
    depth = 1
    n_visited = 0
    n_screened = 0

    while depth > 0:
        depth -= 1
        node = stack_node[depth]
        bound = stack_bound[depth]
        if bound > limit:
            continue
        if not stack_exact[depth]:
            bound = _box_distance(query, lo, hi, node)
            if bound > limit:
                continue

        # Walk down to a leaf, on the side of each split that holds the query. The other
        # child waits on the stack with a lower bound of its box distance: the parent's,
        # raised by the gap along the split side; its own is computed when it is taken.
        # Before the first block the limit is infinite and no bound is needed.
        while left[node] >= 0:
            side = -leaf_block[node] - 1
            coord = query[side]
            gap_left = coord - hi[left[node], side]
            gap_right = lo[right[node], side] - coord
            if gap_left < gap_right:
                near, far, gap = left[node], right[node], max(gap_right, 0.0)
            else:
                near, far, gap = right[node], left[node], max(gap_left, 0.0)
            far_bound = max(bound, gap * gap)
            if far_bound <= limit:
                stack_node[depth] = far
                stack_bound[depth] = far_bound
                stack_exact[depth] = False
                depth += 1
            node = near
            if limit < np.inf:
                bound = _box_distance(query, lo, hi, node)
                if bound > limit:
                    break
        if left[node] >= 0:
            continue  # the walk ended above the leaves: the rest lies beyond the limit

        # Compiled away when blocks32 is None (no screening).
        if blocks32 is not None:
            if screen and limit < np.inf:
                if screen == 1:
                    for k in range(d):
                        query32[k] = np.float32(query[k])
                    margin, usable = _screen_margin(query, lo, hi, root)
                    growth = math.exp((d + 3) * _F32_EPS) * (1.0 + 1e-12)
                    floor = (d + 1) * _F32_TINY
                    screen = 2 if usable else 0
                if screen == 2 and limit != screened_limit:
                    screen_limit = growth * (math.sqrt(limit) + margin) ** 2 + floor
                    screened_limit = limit
            if screen == 2:
                _block_distances(query32, blocks32[leaf_block[node]], dist32)
                if _block_min(dist32, lane_min32) > screen_limit:
                    n_screened += 1
                    continue
        n_visited += 1
        _block_distances(query, blocks[leaf_block[node]], dist)
        block_min = _block_min(dist, lane_min)
        if block_min < nearest:
            # Re-reference the running sum to the new nearest distance. Relative to it the
            # sum is smaller, so the threshold for this block's lanes is looser.
            if total > 0.0:
                total *= math.exp(-(nearest - block_min) * inv_two_var)
                exponent_limit = max_exponent - math.log(max(total, 1.0))
            nearest = block_min
        elif (block_min - nearest) * inv_two_var > exponent_limit:
            continue  # every lane lies beyond the threshold
        total += _block_sum(dist, nearest, inv_two_var, exponent_limit, poly, bits, scale)
        # Mass already summed lets the skip threshold tighten.
        exponent_limit = max_exponent - math.log(max(total, 1.0))
        limit = nearest + exponent_limit / inv_two_var

    return math.log(total) - nearest * inv_two_var, n_visited, n_screened


@numba.njit(cache=True)
def _scratch(d):  # pragma: no cover - compiled
    """Return the work arrays of one thread for _query_log_sum in dimension d."""
    bits = np.empty(BLOCK_SIZE, np.int64)
    lanes = (
        np.empty(BLOCK_SIZE),
        np.empty(BLOCK_SIZE),
        bits,
        bits.view(np.float64),
        np.empty(_LANES),
        np.empty(BLOCK_SIZE, np.float32),
        np.empty(_LANES, np.float32),
        np.empty(d, np.float32),
    )
    stack = (np.empty(_STACK, np.int64), np.empty(_STACK), np.empty(_STACK, np.bool_))
    return lanes, stack


@numba.njit(cache=True, fastmath=_FAST, inline="always")
def _query_range(
    points, start, stop, tree, n_nodes, inv_two_var, max_exponent, results
):  # pragma: no cover - compiled
    """Fill out[i], visited[i], screened[i] for the queries start..stop-1.

    ``points`` is (m * q, d); query i belongs to mixture i // q, whose root node is row
    (i // q) * n_nodes. ``tree`` is (blocks, blocks32, lo, hi, left, right, leaf_block) and
    ``results`` is (out, visited, screened): visited[i] receives the number of blocks whose
    terms were evaluated, screened[i] the number that a float32 pass ruled out.
    """
    out, visited, screened = results
    n_per_mixture = points.shape[0] // (tree[2].shape[0] // n_nodes)
    scratch = _scratch(points.shape[1])
    for i in range(start, stop):
        out[i], visited[i], screened[i] = _query_log_sum(
            points[i], (i // n_per_mixture) * n_nodes, *tree, inv_two_var, max_exponent, scratch
        )


@numba.njit(parallel=True, cache=True, fastmath=_FAST)
def _forest_log_sum(
    points, tree, n_nodes, inv_two_var, max_exponent, n_chunks, results
):  # pragma: no cover - compiled
    """Run _query_range over all queries, in n_chunks chunks on numba's threads."""
    n_points = points.shape[0]
    chunk = (n_points + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        stop = min(n_points, (c + 1) * chunk)
        _query_range(points, c * chunk, stop, tree, n_nodes, inv_two_var, max_exponent, results)


@numba.njit(cache=True, fastmath=_FAST)
def _forest_log_sum_serial(
    points, tree, n_nodes, inv_two_var, max_exponent, results
):  # pragma: no cover - compiled
    """Run _query_range over all queries on the calling thread."""
    n_points = points.shape[0]
    _query_range(points, 0, n_points, tree, n_nodes, inv_two_var, max_exponent, results)


@numba.njit(cache=True, fastmath=_FAST)
def _build_forest_serial(centers, blocks, lo, hi, left, right, leaf_block):  # pragma: no cover
    """Build the tree of every mixture in ``centers`` (m, r, d), on the calling thread."""
    n_mix = centers.shape[0]
    n_blocks = blocks.shape[0] // n_mix
    n_nodes = lo.shape[0] // n_mix
    for k in range(n_mix):
        _build_tree(centers[k], blocks, lo, hi, left, right, leaf_block, k * n_nodes, k * n_blocks)


def _as_float64_array(name: str, value: ArrayLike, ndim: int) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 numpy array with ``ndim`` dimensions."""
    if isinstance(value, torch.Tensor) and value.device.type != "cpu":
        raise ValueError(f"{name} must be on the CPU for the pruned kernel, not {value.device}")
    tensor = as_tensor(name, value, ndim=ndim, dtype=torch.float64)
    return np.ascontiguousarray(tensor.numpy())


def _screening_blocks(blocks: np.ndarray) -> np.ndarray | None:
    """Return the blocks rounded to float32, or None where screening is not used.

    With None the kernels compile without the screening code.
    """
    if blocks.shape[1] < _SCREEN_MIN_DIM:
        return None
    # Coordinates beyond the float32 range become inf; screening is off for them anyway.
    with np.errstate(over="ignore"):
        return blocks.astype(np.float32)


def _top_levels() -> int:
    """Return how many tree levels to split before building subtrees in parallel."""
    return max(1, math.ceil(math.log2(max(1, numba.get_num_threads())))) + 1


def _max_exponent(n_centers: int, tol: float) -> float:
    """Return ln(n / tol), the skip threshold in units of 2 beta^2, clipped to [0, 700]."""
    return min(max(math.log(n_centers / tol), 0.0), _MAX_EXPONENT)


def batched_log_sum(
    points: np.ndarray,
    centers: np.ndarray,
    beta: float,
    tol: float,
    *,
    blocks_visited: np.ndarray | None = None,
    blocks_screened: np.ndarray | None = None,
) -> np.ndarray:
    """Return the pruned log-sum-exp of m mixtures for inputs that are already checked.

    Parameters
    ----------
    points : numpy.ndarray of float64, C-contiguous, shape (m, q, d)
        Finite query points; ``points[k]`` are evaluated under mixture k.
    centers : numpy.ndarray of float64, C-contiguous, shape (m, r, d)
        Finite centres, r >= 1.
    beta : float
        Noise standard deviation, greater than 0.
    tol : float
        Relative mass that may be skipped, greater than 0; the result is below the exact
        value by at most -log(1 - tol) nats (module notes).
    blocks_visited : numpy.ndarray of int64, shape (m, q), optional
        Receives, per query, the number of blocks of ``BLOCK_SIZE`` centres whose terms
        were evaluated in float64 (for measuring the work done).
    blocks_screened : numpy.ndarray of int64, shape (m, q), optional
        Receives, per query, the number of blocks that a float32 pass ruled out.

    Returns
    -------
    numpy.ndarray of float64, shape (m, q)
        log sum_j exp(-|q - mu_kj|^2 / (2 beta^2)) for each query.
    """
    n_mix, n_queries, d = points.shape
    n_centers = centers.shape[1]

    if n_mix * n_queries == 0:
        return np.empty((n_mix, n_queries))

    n_blocks = (n_centers + BLOCK_SIZE - 1) // BLOCK_SIZE
    n_nodes = 2 * n_blocks - 1
    blocks = np.empty((n_mix * n_blocks, d, BLOCK_SIZE))
    lo = np.empty((n_mix * n_nodes, d))
    hi = np.empty((n_mix * n_nodes, d))
    left = np.empty(n_mix * n_nodes, np.int64)
    right = np.empty(n_mix * n_nodes, np.int64)
    leaf_block = np.empty(n_mix * n_nodes, np.int64)
    out = np.empty(n_mix * n_queries)
    visited = np.empty(n_mix * n_queries, np.int64)
    screened = np.empty(n_mix * n_queries, np.int64)

    inv_two_var = 0.5 / beta**2
    max_exponent = _max_exponent(n_centers, tol)
    flat_points = points.reshape(n_mix * n_queries, d)
    with _LOCK:
        if n_mix * n_queries * n_centers <= _PARALLEL_PAIRS or numba.get_num_threads() == 1:
            # Small jobs stay on the calling thread: starting the pool costs more than it
            # saves, and a busy machine can stall a parallel region for milliseconds.
            _build_forest_serial(centers, blocks, lo, hi, left, right, leaf_block)
            _forest_log_sum_serial(
                flat_points,
                (blocks, _screening_blocks(blocks), lo, hi, left, right, leaf_block),
                n_nodes,
                inv_two_var,
                max_exponent,
                (out, visited, screened),
            )
        else:
            if n_mix == 1:
                _build_tree_parallel(
                    centers[0], blocks, lo, hi, left, right, leaf_block, _top_levels()
                )
            else:
                _build_forest(centers, blocks, lo, hi, left, right, leaf_block)
            n_chunks = max(1, min(n_mix * n_queries, 8 * numba.get_num_threads()))
            _forest_log_sum(
                flat_points,
                (blocks, _screening_blocks(blocks), lo, hi, left, right, leaf_block),
                n_nodes,
                inv_two_var,
                max_exponent,
                n_chunks,
                (out, visited, screened),
            )
    if blocks_visited is not None:
        blocks_visited[...] = visited.reshape(n_mix, n_queries)
    if blocks_screened is not None:
        blocks_screened[...] = screened.reshape(n_mix, n_queries)
    return out.reshape(n_mix, n_queries)


def batched_pruned_log_sum(
    points: ArrayLike, centers: ArrayLike, beta: float, *, tol: float = 1e-6
) -> np.ndarray:
    """Return log sum_j exp(-|q - mu_kj|^2 / (2 beta^2)) for m mixtures at their own points.

    Parameters
    ----------
    points : array_like or torch.Tensor (CPU), shape (m, q, d)
        Query points; ``points[k]`` are evaluated under mixture k.
    centers : array_like or torch.Tensor (CPU), shape (m, r, d)
        ``centers[k]`` are the r centres of mixture k.
    beta : float
        Noise standard deviation, greater than 0.
    tol : float, default=1e-6
        Relative mass that may be skipped; the result is at most -log(1 - tol) nats
        (about ``tol``) below the exact value and never above it (module notes).

    Returns
    -------
    numpy.ndarray of float64, shape (m, q)
        The log-sum-exp for each query, without the mixture's normalising constant.
    """
    beta = check_beta(beta)
    tol = check_positive("tol", tol)
    points_a = _as_float64_array("points", points, 3)
    centers_a = _as_float64_array("centers", centers, 3)
    if points_a.shape[0] != centers_a.shape[0] or points_a.shape[2] != centers_a.shape[2]:
        raise ValueError(
            "points and centers must have shapes (m, q, d) and (m, r, d) with the same m "
            f"and d, not {points_a.shape} and {centers_a.shape}"
        )
    return batched_log_sum(points_a, centers_a, beta, tol)


def pruned_log_sum(
    points: ArrayLike, centers: ArrayLike, beta: float, *, tol: float = 1e-6
) -> np.ndarray:
    """Return log sum_j exp(-|q - mu_j|^2 / (2 beta^2)) for each query point q.

    Parameters
    ----------
    points : array_like or torch.Tensor (CPU), shape (q, d)
        Query points.
    centers : array_like or torch.Tensor (CPU), shape (n, d)
        Mixture centres.
    beta : float
        Noise standard deviation, greater than 0.
    tol : float, default=1e-6
        As in :func:`batched_pruned_log_sum`.

    Returns
    -------
    numpy.ndarray of float64, shape (q,)
        The log-sum-exp for each query point.
    """
    points_a = _as_float64_array("points", points, 2)
    centers_a = _as_float64_array("centers", centers, 2)
    return batched_pruned_log_sum(points_a[None], centers_a[None], beta, tol=tol)[0]


def warm_up() -> None:
    """Compile (or load from the disk cache) every kernel, so later calls start at once."""
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((2, 2048, 1))

    # One small job (serial path) and two just above _PARALLEL_PAIRS: one tree, several.
    batched_log_sum(centers[:, :4].copy(), centers, 0.5, 1e-6)
    batched_log_sum(rng.standard_normal((1, 2049, 1)), centers[:1].copy(), 0.5, 1e-6)
    batched_log_sum(rng.standard_normal((2, 1025, 1)), centers, 0.5, 1e-6)
