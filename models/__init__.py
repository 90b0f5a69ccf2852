"""Noisy neural networks, the paper's data sets, training and sampling of hidden layers.

A noisy network (section 2.1 of Goldfeld et al., "Estimating Information Flow in Neural
Networks") has layers T_l = f_l(T_{l-1}) + Z_l with Z_l ~ N(0, beta^2 I), numbered from 1;
the classifiers' output has no noise. This package holds

* the networks: :class:`NoisyMLP`, :class:`MnistCNN` and the toy neurons of section 4;
* the data: :func:`szt_dataset` (the 12-bit patterns), :func:`spiral_dataset`,
  :func:`mnist_dataset`, all as :class:`Dataset` objects of CPU tensors (``szt_dataset``
  returns the raw patterns and labels, :func:`szt_split` the Dataset);
* training: :class:`Trainer`, :func:`log_schedule`, :func:`every_schedule`;
* sampling for the estimators: :func:`sample_hidden_layers` returning :class:`HiddenSamples`;
* the registry of examples: :data:`EXAMPLES`, :func:`get_example`.

It does not import ``app`` or any plotting library.
"""

from .data import (
    Dataset,
    leaky_relu_neuron_data,
    mnist_dataset,
    read_idx,
    spiral_dataset,
    spiral_points,
    szt_dataset,
    szt_labels,
    szt_split,
    tanh_neuron_data,
    two_layer_data,
)
from .examples import EXAMPLES, ExampleSpec, get_example
from .layers import ACTIVATIONS, LayerOutput, NoisyLinear, get_activation, leaky_relu
from .networks import (
    TWO_LAYER_BETA,
    TWO_LAYER_INIT,
    MnistCNN,
    NoisyMLP,
    leaky_relu_neuron,
    tanh_neuron,
    two_layer_leaky_relu,
)
from .sampling import HiddenSamples, sample_hidden_layers
from .training import (
    Trainer,
    augment_images,
    default_device,
    every_schedule,
    log_schedule,
    orthonormal_step,
    weight_matrices,
)

__all__ = [
    "ACTIVATIONS",
    "EXAMPLES",
    "TWO_LAYER_BETA",
    "TWO_LAYER_INIT",
    "Dataset",
    "ExampleSpec",
    "HiddenSamples",
    "LayerOutput",
    "MnistCNN",
    "NoisyLinear",
    "NoisyMLP",
    "Trainer",
    "augment_images",
    "default_device",
    "every_schedule",
    "get_activation",
    "get_example",
    "leaky_relu",
    "leaky_relu_neuron",
    "leaky_relu_neuron_data",
    "log_schedule",
    "mnist_dataset",
    "orthonormal_step",
    "read_idx",
    "sample_hidden_layers",
    "spiral_dataset",
    "spiral_points",
    "szt_dataset",
    "szt_labels",
    "szt_split",
    "tanh_neuron",
    "tanh_neuron_data",
    "two_layer_data",
    "two_layer_leaky_relu",
    "weight_matrices",
]
