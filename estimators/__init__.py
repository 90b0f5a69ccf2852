"""Estimators of information flow in noisy neural networks.

Numerics only: arrays (numpy or torch, CPU or CUDA) in, numbers out. All information
quantities are in nats and ``beta`` is the standard deviation of the Gaussian noise
Z ~ N(0, beta^2 I) added to each layer.

The centre of the package is the sample-propagation (SP) estimator of I(X; T_l), eq. (6)
of Goldfeld et al., "Estimating Information Flow in Neural Networks": the differential
entropy of the Gaussian mixture formed by the clean samples S_l, computed by Monte Carlo
integration (eqs. (15)-(16)). Around it sit

* ``mixture_entropy_exact_1d``: the exact entropy of 1-D mixtures by quadrature, the truth
  for the single-neuron toys;
* ``pairwise_entropy_bounds`` and ``pairwise_mi_bounds``: Kullback-Leibler upper and
  Bhattacharyya lower bounds from pairwise distances;
* binned entropies H(Bin(T)) (section 5), the kNN and KDE baselines (Remark 7), the
  clustering geometry of the representations, and ``theory``: Theorems 3-6 and Remark 1
  as functions.
"""

from . import theory
from .baselines import kde_entropy, knn_entropy, select_kde_bandwidth, silverman_bandwidth
from .binning import binned_entropy, binned_label_mi, per_unit_binned_entropy
from .bounds import Bounds, pairwise_entropy_bounds, pairwise_mi_bounds
from .exact import mixture_density_1d, mixture_entropy_exact_1d
from .geometry import DistanceHistograms, cosine_similarity, distance_histograms
from .mixture import (
    Estimate,
    batched_mixture_log_density,
    mixture_entropy,
    mixture_log_density,
)
from .sample_propagation import (
    BootstrapMI,
    MutualInformation,
    SampleSizeWarning,
    bootstrap_mi,
    sample_propagation_mi,
)

__all__ = [
    "binned_entropy",
    "binned_label_mi",
    "per_unit_binned_entropy",
    "theory",
    "kde_entropy",
    "knn_entropy",
    "select_kde_bandwidth",
    "silverman_bandwidth",
    "DistanceHistograms",
    "cosine_similarity",
    "distance_histograms",
    "Estimate",
    "batched_mixture_log_density",
    "mixture_entropy",
    "mixture_log_density",
    "BootstrapMI",
    "MutualInformation",
    "SampleSizeWarning",
    "bootstrap_mi",
    "sample_propagation_mi",
    "mixture_density_1d",
    "mixture_entropy_exact_1d",
    "Bounds",
    "pairwise_entropy_bounds",
    "pairwise_mi_bounds",
]
