"""The paper's examples with their default settings, by name.

``get_example(name)`` returns an :class:`ExampleSpec` that builds the model (with seeded
initial weights), loads the data and carries the training defaults, so a runner can treat all
examples alike::

    spec = get_example("szt")
    model = spec.build_model(spec.default_activation, spec.default_beta, "additive", 0.2, 0)
    trainer = Trainer(model, spec.load_data(0), **spec.trainer_defaults())
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from estimators._validation import check_seed

from . import data as datasets
from .layers import check_noise_kind, get_activation
from .networks import (
    TWO_LAYER_BETA,
    MnistCNN,
    NoisyMLP,
    leaky_relu_neuron,
    tanh_neuron,
    two_layer_leaky_relu,
)

MLP_ACTIVATIONS = ("tanh", "relu", "leaky_relu", "linear")


@dataclass(frozen=True)
class ExampleSpec:
    """One example of the paper: model, data and training defaults.

    Attributes
    ----------
    name, title : str
        Registry key and a human-readable title.
    description : str
        One paragraph on what the example shows.
    activations : tuple of str
        Nonlinearities the model may use; ``default_activation`` is the paper's.
    default_beta : float
        The paper's noise standard deviation.
    default_noise : {"additive", "dropout"}
        Kind of noise used by default.
    optimizer, learning_rate, lr_final, batch_size, epochs, loss : ...
        Training defaults, as the keyword arguments of :class:`~models.training.Trainer`.
    augment, eval_noise : bool
        Further :class:`~models.training.Trainer` defaults.
    input_dim : int
        Width of one input (784 for the 28 x 28 MNIST images).
    supports_sample_propagation : bool
        Whether the sample-propagation estimator (eq. (6)) applies to the model's layers.
    build : callable
        ``build(activation, beta, noise, dropout_p)`` returning a fresh model.
    data_loader : callable
        ``data_loader(seed)`` returning a :class:`~models.data.Dataset`.
    """

    name: str
    title: str
    description: str
    activations: tuple[str, ...]
    default_activation: str
    default_beta: float
    optimizer: str
    learning_rate: float
    lr_final: float | None
    batch_size: int | None
    epochs: int
    loss: str
    input_dim: int
    supports_sample_propagation: bool
    build: Callable[[str, float, str, float], nn.Module] = field(repr=False)
    data_loader: Callable[[int | None], datasets.Dataset] = field(repr=False)
    default_noise: str = "additive"
    augment: bool = False
    eval_noise: bool = False
    noise_kinds: tuple[str, ...] = ("additive", "dropout")

    def build_model(
        self,
        activation: str | None = None,
        beta: float | None = None,
        noise: str | None = None,
        dropout_p: float = 0.2,
        seed: int | None = 0,
    ) -> nn.Module:
        """Return a fresh model; the same ``seed`` gives the same initial weights.

        The weights are drawn from the global torch stream seeded with ``seed`` inside a
        forked state, so the caller's global stream is untouched. The noise settings do not
        change the initial weights.
        """
        activation = self.default_activation if activation is None else activation
        beta = self.default_beta if beta is None else beta
        noise = self.default_noise if noise is None else noise
        get_activation(activation)
        if activation not in self.activations:
            raise ValueError(
                f"activation must be one of {list(self.activations)} for the {self.name} "
                f"example, not {activation!r}"
            )
        check_noise_kind(noise)
        if noise not in self.noise_kinds:
            raise ValueError(
                f"noise must be one of {list(self.noise_kinds)} for the {self.name} example, "
                f"not {noise!r}"
            )
        seed = check_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if seed is None else seed)
            return self.build(activation, beta, noise, dropout_p)

    def load_data(self, seed: int | None = 0) -> datasets.Dataset:
        """Return the example's data; ``seed`` fixes the random split where there is one."""
        return self.data_loader(check_seed(seed))

    def trainer_defaults(self) -> dict[str, Any]:
        """Return the default keyword arguments of :class:`~models.training.Trainer`."""
        return {
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "lr_final": self.lr_final,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "loss": self.loss,
            "augment": self.augment,
            "eval_noise": self.eval_noise,
        }


def _additive_only(noise: str) -> None:
    if noise != "additive":
        raise ValueError(f"noise must be 'additive' for a toy example, not {noise!r}")


def _build_tanh_neuron(activation: str, beta: float, noise: str, dropout_p: float) -> nn.Module:
    _additive_only(noise)
    return tanh_neuron(beta, activation)


def _build_leaky_neuron(activation: str, beta: float, noise: str, dropout_p: float) -> nn.Module:
    _additive_only(noise)
    return leaky_relu_neuron(beta)


def _build_two_layer(activation: str, beta: float, noise: str, dropout_p: float) -> nn.Module:
    _additive_only(noise)
    return two_layer_leaky_relu(beta, activation=activation)


def _mlp_builder(widths: list[int]) -> Callable[[str, float, str, float], nn.Module]:
    def build(activation: str, beta: float, noise: str, dropout_p: float) -> nn.Module:
        return NoisyMLP(widths, activation, beta, noise=noise, dropout_p=dropout_p)

    return build


def _build_cnn(activation: str, beta: float, noise: str, dropout_p: float) -> nn.Module:
    return MnistCNN(beta, noise=noise, dropout_p=dropout_p)


def _no_seed(loader: Callable[[], datasets.Dataset]) -> Callable[[int | None], datasets.Dataset]:
    def load(seed: int | None) -> datasets.Dataset:
        return loader()

    return load


EXAMPLES: dict[str, ExampleSpec] = {
    spec.name: spec
    for spec in (
        ExampleSpec(
            name="tanh_neuron",
            title="Single tanh neuron",
            description=(
                "T = tanh(wX + b) + Z on X = {-3, -1, 1} (label -1) and {3} (label 1), trained "
                "by gradient descent from w = b = 0 (section 4, Fig. 5). The three class -1 "
                "Gaussians separate and then merge again as they meet the tanh boundary."
            ),
            activations=("tanh",),
            default_activation="tanh",
            default_beta=0.05,
            optimizer="gd",
            learning_rate=0.01,
            lr_final=None,
            batch_size=None,
            epochs=100_000,
            loss="mse",
            input_dim=1,
            supports_sample_propagation=True,
            build=_build_tanh_neuron,
            data_loader=_no_seed(datasets.tanh_neuron_data),
            noise_kinds=("additive",),
        ),
        ExampleSpec(
            name="leaky_relu_neuron",
            title="Single leaky-ReLU neuron",
            description=(
                "S = R(X - b), R(x) = max(x, x/10), on X = {1, 2, 3, 4} with b moving linearly "
                "from 0 to 5 (section 4, Fig. 6a-b). Points with x < b move ten times slower, "
                "so the Gaussians merge one by one although nothing saturates."
            ),
            activations=("leaky_relu",),
            default_activation="leaky_relu",
            default_beta=0.05,
            optimizer="bias_sweep",
            learning_rate=0.01,
            lr_final=None,
            batch_size=None,
            epochs=500,
            loss="mse",
            input_dim=1,
            supports_sample_propagation=True,
            build=_build_leaky_neuron,
            data_loader=_no_seed(datasets.leaky_relu_neuron_data),
            noise_kinds=("additive",),
        ),
        ExampleSpec(
            name="two_layer_leaky_relu",
            title="Two-layer leaky-ReLU network",
            description=(
                "T1 = R(w1 X + b1) + Z1, T2 = R(w2 T1 + b2) + Z2 on X = {1..4} (target 0) and "
                "{5..8} (target 1/4), gradient descent (section 4, Fig. 6c-f). The 1/4 class "
                "clusters in layer 1 after first spreading out, so I(X; T1) rises and falls."
            ),
            activations=("leaky_relu",),
            default_activation="leaky_relu",
            default_beta=TWO_LAYER_BETA,
            optimizer="gd",
            learning_rate=0.001,
            lr_final=None,
            batch_size=None,
            epochs=10_000,
            loss="mse",
            input_dim=1,
            supports_sample_propagation=True,
            build=_build_two_layer,
            data_loader=_no_seed(datasets.two_layer_data),
            noise_kinds=("additive",),
        ),
        ExampleSpec(
            name="szt",
            title="SZT model",
            description=(
                "12-10-7-5-4-3-2 classifier of the 12-bit SZT patterns (section 5.1, Fig. 7), "
                "Adam with learning rate 4e-4 and batch 256 as the co-authors' code."
            ),
            activations=MLP_ACTIVATIONS,
            default_activation="tanh",
            default_beta=0.005,
            optimizer="adam",
            learning_rate=4e-4,
            lr_final=None,
            batch_size=256,
            epochs=10_000,
            loss="cross_entropy",
            input_dim=12,
            supports_sample_propagation=True,
            build=_mlp_builder([12, 10, 7, 5, 4, 3, 2]),
            data_loader=lambda seed: datasets.szt_split(seed),
        ),
        ExampleSpec(
            name="spiral",
            title="Spiral model",
            description=(
                "2-3-3-3-3-3-2 classifier of two interleaved spirals (section 5.2, Fig. 10-11)."
            ),
            activations=MLP_ACTIVATIONS,
            default_activation="tanh",
            default_beta=0.005,
            optimizer="adam",
            learning_rate=0.01,
            lr_final=None,
            batch_size=None,
            epochs=2000,
            loss="cross_entropy",
            input_dim=2,
            supports_sample_propagation=True,
            build=_mlp_builder([2, 3, 3, 3, 3, 3, 2]),
            data_loader=lambda seed: datasets.spiral_dataset(seed=seed),
        ),
        ExampleSpec(
            name="mnist_cnn",
            title="MNIST CNN",
            description=(
                "The CNN of appendix A on 4000 / 1000 real MNIST digits, trained with dropout "
                "(section 5.3) by SGD, batch 32, learning rate 5e-3 decaying to 5e-4 over 128 "
                "epochs, with augmentation. Binning and geometry only: no SP estimator."
            ),
            activations=("tanh",),
            default_activation="tanh",
            default_beta=0.05,
            optimizer="sgd",
            learning_rate=5e-3,
            lr_final=5e-4,
            batch_size=32,
            epochs=128,
            loss="cross_entropy",
            input_dim=784,
            supports_sample_propagation=False,
            build=_build_cnn,
            data_loader=lambda seed: datasets.mnist_dataset("digits", seed=seed),
            default_noise="dropout",
            augment=True,
        ),
    )
}


def get_example(name: str) -> ExampleSpec:
    """Return the example called ``name`` (one of ``EXAMPLES``)."""
    if name not in EXAMPLES:
        raise ValueError(f"name must be one of {list(EXAMPLES)}, not {name!r}")
    return EXAMPLES[name]
