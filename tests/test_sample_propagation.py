"""The sample-propagation estimator of I(X; T) against closed forms, quadrature and the
inequalities every mutual information obeys."""

import math
import warnings

import numpy as np
import pytest
import torch

import estimators.sample_propagation as sp
from estimators import (
    BootstrapMI,
    MutualInformation,
    SampleSizeWarning,
    bootstrap_mi,
    mixture_entropy,
    mixture_entropy_exact_1d,
    sample_propagation_mi,
)

INPUTS = np.array([-3.0, -1.0, 1.0, 3.0])
NEURON_LABELS = np.array([-1, -1, -1, 1])

# The default method may evaluate each log density up to tol = 1e-6 nats low.
LOG_M_SLACK = 1.1e-6


@pytest.fixture(autouse=True)
def fresh_warning_registry(monkeypatch):
    """Each test sees the once-per-shape bias warning afresh and keeps it to itself."""
    monkeypatch.setattr(sp, "_warned", set())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleSizeWarning)
        yield


def gaussian_entropy(d: int, beta: float) -> float:
    return 0.5 * d * math.log(2.0 * math.pi * math.e * beta**2)


def neuron_samples(w: float) -> np.ndarray:
    """Clean outputs S = tanh(w X - 2 w) of the single neuron, shape (4, 1, 1)."""
    return np.tanh(w * INPUTS - 2.0 * w)[:, None, None]


def exact_neuron_mi(w: float, beta: float) -> float:
    return mixture_entropy_exact_1d(neuron_samples(w).ravel(), beta) - gaussian_entropy(1, beta)


def noisy_chain(seed: int, m: int = 16, d: int = 2, r: int = 40, beta: float = 0.1):
    """Clean samples of two noisy tanh layers: S1 = tanh(x W1) and S2 = tanh((S1 + Z) W2)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(m, 3, generator=gen, dtype=torch.float64)
    w1 = torch.randn(3, d, generator=gen, dtype=torch.float64)
    w2 = torch.randn(d, d, generator=gen, dtype=torch.float64)
    s1 = torch.tanh(x @ w1)
    t1 = s1[:, None, :] + beta * torch.randn(m, r, d, generator=gen, dtype=torch.float64)
    return s1[:, None, :], torch.tanh(t1 @ w2)


def test_result_fields():
    result = sample_propagation_mi(neuron_samples(1.0), 0.05, n_mc=3, seed=0, labels=[0, 0, 1, 1])
    assert isinstance(result, MutualInformation)
    assert (result.n_inputs, result.n_replicas, result.n_queries, result.d) == (4, 1, 12, 1)
    assert result.beta == 0.05
    assert result.label_mi is not None
    assert sample_propagation_mi(neuron_samples(1.0), 0.05, seed=0).label_mi is None


def test_first_layer_conditional_entropy_is_the_noise_entropy(device):
    samples = torch.tanh(torch.randn(64, 1, 10, generator=torch.Generator().manual_seed(1)))
    result = sample_propagation_mi(samples.to(device), 0.005, deterministic=True, seed=2)
    assert result.conditional_entropy.value == pytest.approx(-38.7938, abs=1e-4)
    assert result.conditional_entropy.value == gaussian_entropy(10, 0.005)
    assert result.conditional_entropy.stderr == 0.0
    assert result.mi.value == pytest.approx(
        result.entropy.value - result.conditional_entropy.value, abs=1e-12
    )


def test_one_replica_without_the_flag_estimates_the_same_conditional_entropy():
    samples = np.tanh(np.random.default_rng(3).normal(size=(32, 1, 3)))
    result = sample_propagation_mi(samples, 0.1, n_mc=100, seed=4)
    exact = gaussian_entropy(3, 0.1)
    assert abs(result.conditional_entropy.value - exact) < 4 * result.conditional_entropy.stderr


def test_neuron_carries_no_information_at_zero_weight(device):
    samples = torch.tensor(neuron_samples(0.0), device=device)
    result = sample_propagation_mi(samples, 0.05, deterministic=True, n_mc=50, seed=5)
    assert result.mi.value == pytest.approx(0.0, abs=1e-12)
    assert exact_neuron_mi(0.0, 0.05) == pytest.approx(0.0, abs=1e-9)


def test_neuron_reaches_log_four_when_outputs_are_resolved():
    # At w = 0.5 the outputs are at least 0.08 apart, i.e. 16 beta for beta = 0.005.
    exact = exact_neuron_mi(0.5, 0.005)
    result = sample_propagation_mi(neuron_samples(0.5), 0.005, deterministic=True, n_mc=50, seed=6)
    assert exact == pytest.approx(math.log(4), abs=1e-6)
    assert result.mi.value == pytest.approx(math.log(4), abs=1e-6)


@pytest.mark.parametrize("w", [0.25, 0.5, 1.0, 2.0, 5.0])
def test_neuron_estimate_agrees_with_quadrature(device, w):
    samples = torch.tensor(neuron_samples(w), device=device)
    result = sample_propagation_mi(
        samples, 0.05, deterministic=True, n_mc=2500, seed=7, labels=NEURON_LABELS
    )
    exact = exact_neuron_mi(w, 0.05)
    assert result.mi.stderr <= 0.01
    assert abs(result.mi.value - exact) <= 4 * result.mi.stderr

    # I(Y; T) <= min(I(X; T), H(Y)) with H(Y) = H(1/4, 3/4).
    h_y = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    slack = 4 * result.label_mi.stderr + 1e-12
    assert result.label_mi.value <= min(result.mi.value, h_y) + slack


def test_paired_terms_never_exceed_log_m():
    # Well separated outputs put every term near log m: independent draws for h(T) and
    # h(T|X) overshoot it about half of the time, paired queries never do.
    samples = np.linspace(-1, 1, 8)[:, None, None]
    beta = 0.02
    overshoots = 0
    for seed in range(30):
        result = sample_propagation_mi(samples, beta, deterministic=True, seed=seed)
        assert result.mi.value <= math.log(8) + LOG_M_SLACK
        unpaired = mixture_entropy(samples[:, 0], beta, seed=seed).value
        overshoots += unpaired - gaussian_entropy(1, beta) > math.log(8)
    assert overshoots > 0


def test_paired_terms_never_exceed_log_m_with_replicas(device):
    gen = torch.Generator().manual_seed(8)
    samples = torch.rand(6, 5, 2, generator=gen, dtype=torch.float64) * 4
    for seed in range(10):
        result = sample_propagation_mi(samples.to(device), 0.05, seed=seed)
        assert result.mi.value <= math.log(6) + LOG_M_SLACK


def test_label_information_is_bounded_by_input_information_and_label_entropy():
    rng = np.random.default_rng(9)
    centres = rng.uniform(-1, 1, size=(12, 1, 2))
    samples = np.tanh(centres + 0.2 * rng.normal(size=(12, 10, 2)))
    labels = np.repeat([0, 1, 2], 4)
    result = sample_propagation_mi(samples, 0.1, labels=labels, n_mc=20, seed=10)
    slack = 4 * math.hypot(result.label_mi.stderr, result.mi.stderr)
    assert result.label_mi.value <= result.mi.value + slack
    assert result.label_mi.value <= math.log(3) + 4 * result.label_mi.stderr
    assert result.label_mi.value > 0.1


def test_labels_that_match_the_inputs_give_the_input_information():
    samples = np.random.default_rng(11).uniform(-1, 1, size=(5, 4, 1))
    result = sample_propagation_mi(samples, 0.1, labels=np.arange(5), n_mc=3, seed=12)
    assert result.label_mi.value == pytest.approx(result.mi.value, abs=1e-12)


def test_data_processing_along_a_noisy_chain():
    first, second = noisy_chain(13)
    layer1 = sample_propagation_mi(first, 0.1, deterministic=True, n_mc=200, seed=14)
    layer2 = sample_propagation_mi(second, 0.1, n_mc=5, seed=15)
    assert layer2.mi.value <= layer1.mi.value + 4 * math.hypot(layer1.mi.stderr, layer2.mi.stderr)
    assert layer2.mi.value > 0.5


def test_estimates_are_not_clipped_at_zero():
    # Inputs whose replicas share one distribution carry no information; noisy MC then
    # yields negative estimates, which must be reported as they are.
    rng = np.random.default_rng(16)
    values = []
    for seed in range(20):
        samples = rng.normal(size=(2, 3, 1))
        result = sample_propagation_mi(samples, 1.0, seed=seed)
        assert result.mi.value == pytest.approx(
            result.entropy.value - result.conditional_entropy.value, abs=1e-12
        )
        values.append(result.mi.value)
    assert min(values) < 0


def test_n_queries_is_spread_evenly_and_rounded_up():
    samples = np.random.default_rng(17).uniform(-1, 1, size=(7, 3, 2))
    result = sample_propagation_mi(samples, 0.1, n_queries=100, seed=18)
    assert result.n_queries == 105
    by_replica = sample_propagation_mi(samples, 0.1, n_mc=5, seed=18)
    assert by_replica.n_queries == 105
    choices = sp._replica_choices(7, 3, 5, torch.Generator().manual_seed(0))
    counts = np.stack([np.bincount(row, minlength=3) for row in choices.numpy()])
    assert counts.min() == 1 and counts.max() == 2 and (counts.sum(axis=1) == 5).all()


def test_seed_reproduces_and_devices_agree(device):
    first, second = noisy_chain(19, m=8, r=6)
    base = sample_propagation_mi(second, 0.1, n_mc=2, seed=20, labels=np.arange(8) % 2)
    moved = sample_propagation_mi(
        second.to(device), 0.1, n_mc=2, seed=20, labels=torch.arange(8) % 2
    )
    other = sample_propagation_mi(second, 0.1, n_mc=2, seed=21)
    # The same draws on every device; CPU and CUDA may differ by the pruning tolerance.
    assert moved.mi.value == pytest.approx(base.mi.value, abs=2.2e-6)
    assert moved.label_mi.value == pytest.approx(base.label_mi.value, abs=2.2e-6)
    assert other.mi.value != base.mi.value


def test_float32_input_gives_the_float64_answer():
    _, second = noisy_chain(22, m=8, r=6)
    as64 = sample_propagation_mi(second.float().double(), 0.1, seed=23)
    as32 = sample_propagation_mi(second.float(), 0.1, seed=23)
    assert as32.mi.value == pytest.approx(as64.mi.value, abs=1e-12)


def test_bias_warning_once_per_shape(monkeypatch):
    warnings.simplefilter("default", SampleSizeWarning)
    samples = np.tanh(np.random.default_rng(24).normal(size=(100, 1, 10)))
    with pytest.warns(SampleSizeWarning) as caught:
        sample_propagation_mi(samples, 0.1, deterministic=True, seed=0)
    message = str(caught[0].message)
    # beta = 0.1, d = 10, eps = 0.01: k* = 3 (section 3.4.1), so n > 3^9.9 = 52913.
    assert "n=100" in message and f"{3**9.9:.4g}" in message and "worst-case" in message
    assert caught[0].filename == __file__

    with warnings.catch_warnings():
        warnings.simplefilter("error", SampleSizeWarning)
        sample_propagation_mi(samples, 0.1, deterministic=True, seed=1)
        # Enough samples for d = 1 (k* = 3, 3^0.99 < 4), and no bound at all for beta = 0.5.
        sample_propagation_mi(neuron_samples(1.0), 0.1, deterministic=True, seed=2)
        sample_propagation_mi(samples, 0.5, deterministic=True, seed=3)


def test_bias_warning_covers_the_conditional_mixtures():
    warnings.simplefilter("default", SampleSizeWarning)
    samples = np.random.default_rng(25).uniform(-1, 1, size=(100, 5, 1))
    with pytest.warns(SampleSizeWarning, match=r"h\(T\|X=x\) has n=5 samples"):
        sample_propagation_mi(samples, 0.01, seed=0)


def test_bootstrap_reports_the_point_estimate_and_its_spread():
    _, second = noisy_chain(26, m=10, r=8)
    labels = np.arange(10) % 2
    result = bootstrap_mi(second, 0.1, n_boot=20, labels=labels, n_mc=2, seed=27)
    point = sample_propagation_mi(second, 0.1, labels=labels, n_mc=2, seed=27)
    assert isinstance(result, BootstrapMI)
    assert result.estimate == point
    assert result.values.shape == (20,) and result.label_values.shape == (20,)
    assert result.std == pytest.approx(result.values.std(ddof=1))
    assert result.interval[0] < result.interval[1] and result.level == 0.95
    assert result.interval[0] >= result.values.min() and result.interval[1] <= result.values.max()
    again = bootstrap_mi(second, 0.1, n_boot=20, labels=labels, n_mc=2, seed=27)
    np.testing.assert_array_equal(again.values, result.values)


def test_bootstrap_spread_matches_the_spread_over_fresh_samples():
    # Inputs drawn from a fixed distribution: the spread of SP across independent data
    # sets is the sampling error the bootstrap should recover from a single one.
    def draw(rng):
        centres = rng.uniform(-1, 1, size=(30, 1, 1))
        return np.tanh(2 * centres + 0.3 * rng.normal(size=(30, 10, 1)))

    rng = np.random.default_rng(28)
    fresh = [sample_propagation_mi(draw(rng), 0.1, n_mc=2, seed=k).mi.value for k in range(30)]
    boot = bootstrap_mi(draw(rng), 0.1, n_boot=30, n_mc=2, seed=29)
    assert np.std(fresh, ddof=1) / 3 < boot.std < 3 * np.std(fresh, ddof=1)


def test_bootstrap_without_labels_has_no_label_spread():
    result = bootstrap_mi(neuron_samples(1.0), 0.05, deterministic=True, n_boot=5, seed=30)
    assert result.label_values is None and result.label_std is None
    assert result.label_interval is None


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"beta": -0.1}, ValueError, "beta must be greater than 0, not -0.1"),
        ({"samples": np.zeros((4, 1))}, ValueError,
         "samples must have 3 dimensions, not 2 (shape (4, 1))"),
        ({"samples": np.zeros((0, 1, 1))}, ValueError, "samples must have at least 1 row, not 0"),
        ({"samples": np.zeros((4, 0, 1))}, ValueError,
         "samples must not be empty (shape (4, 0, 1))"),
        ({"samples": np.full((4, 1, 1), np.nan)}, ValueError,
         "samples must contain only finite values, not 4 NaN or infinite"),
        ({"samples": np.zeros((4, 3, 1)), "deterministic": True}, ValueError,
         "deterministic=True needs one replica per input (samples of shape (m, 1, d)), "
         "not 3 replicas"),
        ({"deterministic": 1}, TypeError, "deterministic must be True or False, not 1"),
        ({"n_mc": 0}, ValueError, "n_mc must be at least 1, not 0"),
        ({"n_queries": 0}, ValueError, "n_queries must be at least 1, not 0"),
        ({"n_mc": 3, "n_queries": 10}, ValueError, "give n_queries only with n_mc=1, not n_mc=3"),
        ({"labels": [0, 1, 0]}, ValueError, "labels must have one entry per input (4), not 3"),
        ({"labels": [[0, 1, 0, 1]]}, ValueError,
         "labels must be one-dimensional, not of shape (1, 4)"),
        ({"labels": [0.0, np.nan, 1.0, 1.0]}, ValueError, "labels must contain only finite"),
        ({"seed": 1.5}, TypeError, "seed must be an integer, not 1.5"),
        ({"method": "nearest"}, ValueError,
         ("method must be one of 'auto', 'exact'", "not 'nearest'")),
        ({"tol": 0}, ValueError, "tol must be greater than 0, not 0.0"),
    ],
)
def test_bad_input_is_refused_with_a_message(kwargs, error, message):
    arguments = {"samples": neuron_samples(1.0), "beta": 0.05} | kwargs
    with pytest.raises(error) as info:
        sample_propagation_mi(arguments.pop("samples"), arguments.pop("beta"), **arguments)
    for part in (message,) if isinstance(message, str) else message:
        assert part in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_boot": 1}, "n_boot must be at least 2, not 1"),
        ({"level": 1.0}, "level must lie strictly between 0 and 1, not 1.0"),
        ({"labels": [0, 1]}, "labels must have one entry per input (4), not 2"),
    ],
)
def test_bootstrap_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError) as info:
        bootstrap_mi(neuron_samples(1.0), 0.05, **kwargs)
    for part in (message,) if isinstance(message, str) else message:
        assert part in str(info.value)


def test_a_seed_shared_with_the_sampler_does_not_reuse_its_noise():
    # Replicas drawn as c + beta * z with z from manual_seed(7). Were the queries of
    # sample_propagation_mi(seed=7) to reuse that z, each would sit at c + 2 beta z, tied to
    # its own centre, and the estimate would drop by about 0.4 nats here.
    beta, m, r = 0.1, 64, 8
    start = torch.Generator().manual_seed(1)
    centres = torch.rand((m, 1, 2), generator=start, dtype=torch.float64)
    noise = torch.randn((m, r, 2), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    samples = centres + beta * noise

    shared = sample_propagation_mi(samples, beta, seed=7).mi
    others = [sample_propagation_mi(samples, beta, seed=s).mi for s in range(20, 26)]
    mean = float(np.mean([o.value for o in others]))
    spread = math.hypot(shared.stderr, others[0].stderr / math.sqrt(len(others)))
    assert abs(shared.value - mean) < 4 * spread


def test_defensive_queries_keep_the_error_honest_near_log_m():
    # Four tanh outputs about 6 beta apart: I is 7e-4 below ln 4. Plain Monte Carlo rarely
    # queries between the components and lands far more than 4 of its stderrs above the
    # quadrature value; the defensive proposal stays within 4 for every seed.
    beta = 0.05
    centers = np.tanh(0.4 * INPUTS - 0.1)
    exact = mixture_entropy_exact_1d(centers, beta) - gaussian_entropy(1, beta)
    samples = centers[:, None, None]

    def z_scores(**options):
        scores = []
        for seed in range(12):
            mi = sample_propagation_mi(
                samples, beta, deterministic=True, n_queries=10_000, seed=seed, **options
            ).mi
            scores.append((mi.value - exact) / mi.stderr)
        return np.abs(scores)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleSizeWarning)
        plain = z_scores()
        defensive = z_scores(proposal_scale=2.0)
    assert plain.max() > 10
    assert defensive.max() < 4


def test_defensive_queries_are_unbiased_in_several_dimensions():
    rng = np.random.default_rng(3)
    samples = np.tanh(rng.normal(size=(16, 8, 3)))
    plain = sample_propagation_mi(samples, 0.3, labels=np.arange(16) % 2, n_mc=200, seed=1)
    wide = sample_propagation_mi(
        samples, 0.3, labels=np.arange(16) % 2, n_mc=200, seed=2, proposal_scale=3.0
    )
    for a, b in ((plain.mi, wide.mi), (plain.label_mi, wide.label_mi),
                 (plain.entropy, wide.entropy)):
        assert abs(a.value - b.value) < 4 * math.hypot(a.stderr, b.stderr)


@pytest.mark.parametrize("scale", [1.0, 0.5, -2.0])
def test_proposal_scale_must_exceed_one(scale):
    with pytest.raises(ValueError, match="proposal_scale must be"):
        sample_propagation_mi(np.zeros((4, 1, 1)), 0.1, proposal_scale=scale)
