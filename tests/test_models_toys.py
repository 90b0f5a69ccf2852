"""The small examples of section 4: what training them must show."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import Trainer, get_example, log_schedule, sample_hidden_layers

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _mutual_information_1d(centers: np.ndarray, beta: float) -> float:
    """I(X; S + Z) in nats for a deterministic scalar S of a uniform X, by quadrature."""
    grid = np.linspace(centers.min() - 10 * beta, centers.max() + 10 * beta, 20001)
    density = np.exp(-0.5 * ((grid[:, None] - centers[None, :]) / beta) ** 2).mean(axis=1)
    density /= beta * np.sqrt(2 * np.pi)
    entropy = -np.trapezoid(density * np.log(np.maximum(density, 1e-300)), grid)
    return float(entropy - 0.5 * np.log(2 * np.pi * np.e * beta**2))


def _clean_layers(model: torch.nn.Module, x: torch.Tensor) -> list[np.ndarray]:
    with torch.no_grad():
        return [layer.clean.double().numpy().ravel() for layer in model.hidden_layers(x, False)]


@pytest.fixture(scope="module")
def tanh_run() -> tuple[Trainer, float]:
    """The single tanh neuron trained for the paper's 10^5 epochs, once per module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    spec = get_example("tanh_neuron")
    trainer = Trainer(spec.build_model(), spec.load_data(), **spec.trainer_defaults(), seed=0,
                      device="cpu")  # fmt: skip
    trainer.train_epochs(spec.epochs)
    torch.set_num_threads(threads)
    return trainer, spec.default_beta


def test_tanh_neuron_boundary_tends_to_the_midpoint(tanh_run) -> None:
    trainer, _ = tanh_run
    assert trainer.epoch == 100_000
    weight = trainer.model.layers[0].linear.weight.item()
    bias = trainer.model.layers[0].linear.bias.item()
    assert weight > 0
    assert 1.85 <= -bias / weight <= 2.0


def test_tanh_neuron_class_minus_one_points_cluster_within_beta(tanh_run) -> None:
    trainer, beta = tanh_run
    (values,) = _clean_layers(trainer.model, trainer.data.train_x)
    assert values[:3].max() - values[:3].min() <= beta
    assert values[3] - values[:3].max() > 1.5  # the class 1 point is far away
    assert trainer.evaluate()["train_accuracy"] == 1.0


def test_tanh_neuron_starts_with_all_gaussians_superimposed() -> None:
    spec = get_example("tanh_neuron")
    model = spec.build_model()
    samples = sample_hidden_layers(model, spec.load_data().estimation_x, 3, seed=0)
    assert float(samples.layers[0].abs().max()) == 0.0
    assert samples.deterministic == [True]


def test_leaky_relu_neuron_sweep_merges_the_gaussians() -> None:
    spec = get_example("leaky_relu_neuron")
    data = spec.load_data()
    trainer = Trainer(spec.build_model(), data, **spec.trainer_defaults(), device="cpu")
    beta = spec.default_beta
    x = data.train_x.numpy().ravel()
    information = []
    for epoch in range(0, spec.epochs + 1, 50):
        trainer.train_epochs(epoch - trainer.epoch)
        b = epoch * spec.learning_rate
        (values,) = _clean_layers(trainer.model, data.train_x)
        np.testing.assert_allclose(values, np.maximum(x - b, (x - b) / 10), atol=1e-5)
        information.append(_mutual_information_1d(values, beta))
    # b = 0: spacing 1, four resolved Gaussians; b = 5: spacing 1/10 = 2 beta.
    assert information[0] == pytest.approx(np.log(4), abs=1e-3)
    assert information[-1] < information[0] - 0.3
    assert all(
        later <= earlier + 1e-6
        for earlier, later in zip(information[:-1], information[1:], strict=True)
    )


@pytest.fixture(scope="module")
def two_layer_run() -> dict:
    """The two-layer leaky-ReLU net trained with the shipped defaults, layer 1 recorded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    spec = get_example("two_layer_leaky_relu")
    data = spec.load_data()
    trainer = Trainer(spec.build_model(), data, **spec.trainer_defaults(), seed=0,
                      device="cpu")  # fmt: skip
    information = []
    for epoch in log_schedule(spec.epochs, 60):
        trainer.train_epochs(epoch - trainer.epoch)
        layer1 = _clean_layers(trainer.model, data.train_x)[0]
        information.append(_mutual_information_1d(layer1, spec.default_beta))
    torch.set_num_threads(threads)
    return {
        "trainer": trainer,
        "beta": spec.default_beta,
        "information": np.array(information),
        "layers": _clean_layers(trainer.model, data.train_x),
    }


def test_two_layer_net_ends_with_negative_weights(two_layer_run) -> None:
    model = two_layer_run["trainer"].model
    assert model.layers[0].linear.weight.item() < 0
    assert model.layers[1].linear.weight.item() < 0
    assert two_layer_run["trainer"].evaluate()["train_accuracy"] == 1.0


def test_two_layer_net_clusters_the_quarter_class_in_layer_one(two_layer_run) -> None:
    layer1 = two_layer_run["layers"][0]
    quarter = layer1[4:]  # inputs 5, 6, 7, 8
    assert quarter.max() - quarter.min() <= 2 * two_layer_run["beta"]
    assert layer1[:4].min() - quarter.max() > 2 * two_layer_run["beta"]


def test_two_layer_information_in_layer_one_is_not_monotone(two_layer_run) -> None:
    information = two_layer_run["information"]
    peak = information.max()
    assert peak - information[0] > 0.2  # the Gaussians first spread out ...
    assert peak - information[-1] > 0.1  # ... and then the 1/4 class clusters
