"""The noisy networks of the paper: fully connected nets, the toy neurons and the MNIST CNN.

Every model has the same calling convention:

* ``model(x, noise=True, generator=None)`` returns the output: the logits of a classifier (no
  noise is ever added to them, section 2.1), or the noisy value T_L of a toy whose output
  neuron is itself studied (section 4).
* ``model.hidden_layers(x, noise=True, generator=None)`` returns one
  :class:`~models.layers.LayerOutput` ``(clean, noisy)`` = (S_l, T_l) per reported layer,
  numbered from 1 as in the paper, each of shape ``(n, d_l)``.
* ``model.layer_widths`` lists the widths d_l of the reported layers, ``model.beta`` the noise
  standard deviation and ``model.supports_sample_propagation`` whether the sample-propagation
  estimator of eq. (6) applies to the reported layers.

Noise is chosen per call. ``train()`` / ``eval()`` only switch batch norm.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from estimators._validation import check_int, check_positive

from .layers import (
    LayerOutput,
    NoisyLinear,
    apply_noise,
    check_dropout_p,
    check_noise_kind,
    get_activation,
)


def _check_widths(widths: Sequence[int]) -> list[int]:
    """Return ``widths`` as a list of at least two positive ints."""
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise TypeError(f"widths must be a sequence of integers, not {widths!r}")
    if len(widths) < 2:
        raise ValueError(
            f"widths must list at least an input and an output width, not {list(widths)}"
        )
    return [check_int(f"widths[{i}]", width, minimum=1) for i, width in enumerate(widths)]


class _NoisyModel(nn.Module):
    """Noise settings and input checks shared by the noisy networks."""

    def __init__(self, beta: float, noise: str, dropout_p: float) -> None:
        super().__init__()
        self._beta = check_positive("beta", beta, allow_zero=True)
        self.noise = check_noise_kind(noise)
        self.dropout_p = check_dropout_p(dropout_p)

    @property
    def beta(self) -> float:
        """Standard deviation of the additive noise Z ~ N(0, beta^2 I)."""
        return self._beta

    @property
    def is_noisy(self) -> bool:
        """Whether a call with ``noise=True`` draws any noise at all."""
        if self.noise == "additive":
            return self._beta > 0
        return self.dropout_p > 0

    def _noise(
        self, clean: torch.Tensor, noise: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Return T = S + Z (or dropout of S) when ``noise`` is on, else S itself."""
        if not noise:
            return clean
        return apply_noise(
            clean,
            kind=self.noise,
            beta=self._beta,
            dropout_p=self.dropout_p,
            generator=generator,
        )

    def _as_input(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` as a tensor of the parameters' dtype and device."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, not {type(x).__name__}")
        parameter = next(self.parameters())
        if x.numel() == 0:
            raise ValueError(f"x must not be empty (shape {tuple(x.shape)})")
        return x.to(dtype=parameter.dtype, device=parameter.device)


class NoisyMLP(_NoisyModel):
    """Fully connected noisy network T_l = sigma(W_l T_{l-1} + b_l) + Z_l (section 2.1).

    Parameters
    ----------
    widths : sequence of int
        Layer widths d_0, ..., d_L, input first, e.g. ``[12, 10, 7, 5, 4, 3, 2]`` for the SZT
        model. Layers 1 ... L-1 are hidden, layer L is the output.
    activation : str, default="tanh"
        Nonlinearity of the hidden layers: ``"tanh"``, ``"relu"``, ``"leaky_relu"`` or
        ``"linear"``.
    beta : float, default=0.0
        Noise standard deviation; 0 gives the deterministic network.
    noisy_output : bool, default=False
        Whether the output layer is itself a noisy layer that is reported and whose noisy value
        is returned (the toy examples of section 4). Classifiers keep the default: their
        output T_L = f_L(T_{L-1}) has no noise and is not reported.
    noise : {"additive", "dropout"}, default="additive"
        Kind of noise of every noisy layer.
    dropout_p : float, default=0.2
        Dropout probability when ``noise="dropout"``.
    batch_norm : bool, default=False
        Batch norm between the affine map and the nonlinearity of each hidden layer.
    output_activation : str, optional
        Nonlinearity of the output layer. By default the hidden one for a noisy output (a toy
        neuron) and ``"linear"`` (logits) otherwise.

    Attributes
    ----------
    layers : torch.nn.ModuleList
        The L :class:`~models.layers.NoisyLinear` layers; ``layers[l - 1]`` is layer l.
    layer_widths : list of int
        Widths of the reported layers.
    """

    def __init__(
        self,
        widths: Sequence[int],
        activation: str = "tanh",
        beta: float = 0.0,
        *,
        noisy_output: bool = False,
        noise: str = "additive",
        dropout_p: float = 0.2,
        batch_norm: bool = False,
        output_activation: str | None = None,
    ) -> None:
        super().__init__(beta, noise, dropout_p)
        self.widths = _check_widths(widths)
        get_activation(activation)
        if output_activation is None:
            output_activation = activation if noisy_output else "linear"
        get_activation(output_activation)
        self.activation = activation
        self.output_activation = output_activation
        self.noisy_output = bool(noisy_output)
        self.batch_norm = bool(batch_norm)

        n_layers = len(self.widths) - 1
        self.layers = nn.ModuleList(
            NoisyLinear(
                self.widths[i],
                self.widths[i + 1],
                activation if i < n_layers - 1 else output_activation,
                batch_norm=batch_norm and i < n_layers - 1,
            )
            for i in range(n_layers)
        )

    @property
    def layer_widths(self) -> list[int]:
        """Widths of the reported layers (hidden layers, plus the output when noisy)."""
        return self.widths[1:] if self.noisy_output else self.widths[1:-1]

    @property
    def output_reported(self) -> bool:
        """Whether the last reported layer is the output layer."""
        return self.noisy_output

    @property
    def supports_sample_propagation(self) -> bool:
        """Whether eq. (6) applies: additive noise with beta > 0 after every reported layer."""
        return self.noise == "additive" and self._beta > 0

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        x = self._as_input(x)
        if x.ndim != 2 or x.shape[1] != self.widths[0]:
            raise ValueError(
                f"x must have shape (n, {self.widths[0]}) for input width {self.widths[0]}, "
                f"not {tuple(x.shape)}"
            )
        return x

    def all_layers(
        self, x: torch.Tensor, noise: bool = True, generator: torch.Generator | None = None
    ) -> list[LayerOutput]:
        """Return ``(S_l, T_l)`` for every layer l = 1 ... L, the output included.

        The output of a classifier is never noisy: its ``noisy`` entry is its clean value.
        """
        t = self._check_input(x)
        outputs = []
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            clean = layer.clean(t)
            if index < last or self.noisy_output:
                t = self._noise(clean, noise, generator)
            else:
                t = clean
            outputs.append(LayerOutput(clean, t))
        return outputs

    def hidden_layers(
        self, x: torch.Tensor, noise: bool = True, generator: torch.Generator | None = None
    ) -> list[LayerOutput]:
        """Return ``(S_l, T_l)`` for each reported layer, layer 1 first.

        Parameters
        ----------
        x : torch.Tensor
            Inputs of shape ``(n, d_0)``.
        noise : bool, default=True
            Draw the noise Z_l; False gives the deterministic pass (S_l = T_l).
        generator : torch.Generator, optional
            Random stream of the noise, on the model's device.
        """
        outputs = self.all_layers(x, noise, generator)
        return outputs if self.noisy_output else outputs[:-1]

    def forward(
        self, x: torch.Tensor, noise: bool = True, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Return the output: the logits, or the noisy T_L of a noisy-output toy."""
        return self.all_layers(x, noise, generator)[-1].noisy

    def extra_repr(self) -> str:
        """Return the settings shown by ``repr``."""
        return (
            f"widths={self.widths}, activation={self.activation!r}, beta={self._beta}, "
            f"noise={self.noise!r}, noisy_output={self.noisy_output}"
        )


class MnistCNN(_NoisyModel):
    """The MNIST CNN of appendix A.

    conv(1 -> 16, 5x5, padding 2) -> batch norm -> tanh -> noise or dropout -> 2x2 max-pool,
    conv(16 -> 32, 5x5, padding 2) -> batch norm -> tanh -> noise or dropout -> 2x2 max-pool,
    fully connected 32 * 7 * 7 = 1568 -> 128 -> batch norm -> tanh -> noise or dropout,
    fully connected 128 -> 10 (the logits, never noisy).

    Weights keep PyTorch's default initialisation, Unif[-1/sqrt(m), 1/sqrt(m)] with m the
    fan-in, and biases start at 0, as in appendix A.

    The reported layers are the paper's: layer 1 and 2 are the pooled outputs of the two
    convolutional blocks (d = 3136 and 1568), layer 3 the tanh output of the first fully
    connected layer (d = 128) and layer 4 the logits (d = 10). Each is flattened to
    ``(n, d_l)``; the ``clean`` value of a pooled layer is the pooling of the clean
    activations, its ``noisy`` value the pooling of the noisy ones.

    Parameters
    ----------
    beta : float, default=0.0
        Standard deviation of the additive noise.
    noise : {"additive", "dropout"}, default="additive"
        Additive Gaussian noise or dropout at steps 4, 9 and 14 of appendix A.
    dropout_p : float, default=0.2
        Dropout probability.
    """

    image_shape = (1, 28, 28)

    def __init__(self, beta: float = 0.0, *, noise: str = "additive", dropout_p: float = 0.2):
        super().__init__(beta, noise, dropout_p)
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5, padding=2)
        self.norm1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5, padding=2)
        self.norm2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.norm3 = nn.BatchNorm1d(128)
        self.fc2 = nn.Linear(128, 10)
        for module in (self.conv1, self.conv2, self.fc1, self.fc2):
            nn.init.zeros_(module.bias)

    @property
    def layer_widths(self) -> list[int]:
        """Widths of layers 1-4: 16 * 14 * 14, 32 * 7 * 7, 128 and 10."""
        return [16 * 14 * 14, 32 * 7 * 7, 128, 10]

    @property
    def output_reported(self) -> bool:
        """Layer 4, the last reported layer, is the output."""
        return True

    @property
    def supports_sample_propagation(self) -> bool:
        """Always False: pooled layers are not S + Z and d is far beyond any sample size."""
        return False

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        x = self._as_input(x)
        if x.ndim == 2 and x.shape[1] == 28 * 28:
            return x.reshape(-1, *self.image_shape)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"x must have shape (n, 1, 28, 28) or (n, 784), not {tuple(x.shape)}")
        return x

    def hidden_layers(
        self, x: torch.Tensor, noise: bool = True, generator: torch.Generator | None = None
    ) -> list[LayerOutput]:
        """Return ``(clean, noisy)`` of layers 1-4 of appendix A, each of shape (n, d_l)."""
        x = self._check_input(x)
        n = x.shape[0]

        clean = torch.tanh(self.norm1(self.conv1(x)))
        noisy = self._noise(clean, noise, generator)
        layer1 = LayerOutput(F.max_pool2d(clean, 2), F.max_pool2d(noisy, 2))

        clean = torch.tanh(self.norm2(self.conv2(layer1.noisy)))
        noisy = self._noise(clean, noise, generator)
        layer2 = LayerOutput(F.max_pool2d(clean, 2), F.max_pool2d(noisy, 2))

        clean = torch.tanh(self.norm3(self.fc1(layer2.noisy.reshape(n, -1))))
        layer3 = LayerOutput(clean, self._noise(clean, noise, generator))

        logits = self.fc2(layer3.noisy)
        return [
            LayerOutput(layer1.clean.reshape(n, -1), layer1.noisy.reshape(n, -1)),
            LayerOutput(layer2.clean.reshape(n, -1), layer2.noisy.reshape(n, -1)),
            layer3,
            LayerOutput(logits, logits),
        ]

    def forward(
        self, x: torch.Tensor, noise: bool = True, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Return the logits of shape (n, 10)."""
        return self.hidden_layers(x, noise, generator)[-1].clean

    def extra_repr(self) -> str:
        """Return the settings shown by ``repr``."""
        return f"beta={self._beta}, noise={self.noise!r}, dropout_p={self.dropout_p}"


def tanh_neuron(beta: float = 0.05, activation: str = "tanh") -> NoisyMLP:
    """Return the single noisy neuron T = tanh(w X + b) + Z of section 4, with w = b = 0.

    Parameters
    ----------
    beta : float, default=0.05
        Noise standard deviation (the paper's value).
    activation : str, default="tanh"
        Nonlinearity of the neuron.
    """
    model = NoisyMLP([1, 1], activation, beta, noisy_output=True)
    with torch.no_grad():
        model.layers[0].linear.weight.zero_()
        model.layers[0].linear.bias.zero_()
    return model


def leaky_relu_neuron(beta: float = 0.05, bias: float = 0.0) -> NoisyMLP:
    """Return the neuron S = R(X - b) of section 4, R(x) = max(x, x/10), T = S + Z.

    The weight is 1 and the layer's bias parameter holds -b. The paper does not train this
    neuron; it moves b linearly (Fig. 6b), which the ``"bias_sweep"`` rule of
    :class:`~models.training.Trainer` does.

    Parameters
    ----------
    beta : float, default=0.05
        Noise standard deviation.
    bias : float, default=0.0
        The shift b at the start.
    """
    model = NoisyMLP([1, 1], "leaky_relu", beta, noisy_output=True)
    with torch.no_grad():
        model.layers[0].linear.weight.fill_(1.0)
        model.layers[0].linear.bias.fill_(-float(bias))
    return model


# Initial (w1, b1, w2, b2) of the two-layer leaky-ReLU net and its noise level. They were
# picked from a grid of initialisations, trained as in section 4, as one whose end state
# shows the paper's solution; see two_layer_leaky_relu.
TWO_LAYER_INIT = (-0.05, 1.0, -1.0, 0.0)
TWO_LAYER_BETA = 0.05


def two_layer_leaky_relu(
    beta: float = TWO_LAYER_BETA,
    init: Sequence[float] = TWO_LAYER_INIT,
    activation: str = "leaky_relu",
) -> NoisyMLP:
    """Return the two-layer noisy leaky-ReLU net of section 4, both layers reported.

    T_1 = R(w1 X + b1) + Z_1 and T_2 = R(w2 T_1 + b2) + Z_2 with R(x) = max(x, x/10).

    The paper does not give its initialisation. The default one, (w1, b1, w2, b2) =
    (-0.05, 1, -1, 0) with beta = 0.05, trained on X = {1..4} (target 0) and {5..8} (target
    1/4) by gradient descent with learning rate 0.001 on the mean squared error, ends after
    10 000 epochs near (-0.195, 0.975, -0.97, 0.217): w1 < 0 puts the 1/4 class on the slow
    side of R, where its four points lie within 0.06 (< 2 beta) of each other, and w2 < 0
    negates layer 1 so the class 0 points land on the slow side of layer 2. At the start all
    eight points of layer 1 lie within 0.35 of each other (I(X; T_1) = 0.88 nats); they
    spread to 1.62 nats by epoch ~400, and the clustering of the 1/4 class brings I(X; T_1)
    back down to 1.36 nats. Many other initialisations end where nothing clusters.

    Parameters
    ----------
    beta : float
        Noise standard deviation of both layers.
    init : sequence of 4 floats
        Initial (w1, b1, w2, b2).
    activation : str, default="leaky_relu"
        Nonlinearity of both layers.
    """
    values = [float(value) for value in init]
    if len(values) != 4:
        raise ValueError(f"init must hold 4 numbers (w1, b1, w2, b2), not {len(values)}")
    model = NoisyMLP([1, 1, 1], activation, beta, noisy_output=True)
    with torch.no_grad():
        for layer, (weight, bias) in zip(model.layers, (values[:2], values[2:]), strict=True):
            layer.linear.weight.fill_(weight)
            layer.linear.bias.fill_(bias)
    return model
