"""The declarative configuration of one experiment.

An :class:`ExperimentConfig` holds every setting of a run: the example network and its data,
the noise, the optimiser, the measurement schedule and the estimator settings. The command
line builds its options from these parameters (``--learning-rate`` for ``learning_rate``), the
explorer builds its widgets from them, and a run folder stores them as ``config.json``.

Estimator defaults per example
------------------------------
:meth:`ExperimentConfig.for_example` starts from the training defaults that ``models`` ships
for the example and adds estimator settings chosen so that one measured epoch meets a stated
Monte Carlo error and stays quick enough for the explorer to keep up on a laptop CPU:

================== ======== ========= =============================== ====== ==================
example            replicas n_queries Monte Carlo stderr of I(X;T)    inputs seconds per epoch
================== ======== ========= =============================== ====== ==================
tanh_neuron        1        2500      <= 0.01 at every epoch          4      0.3
leaky_relu_neuron  1        2500      <= 0.01                         4      0.1
two_layer_leaky... 256      1500      <= 0.01, both layers            8      0.3
szt                4        2         <= 0.02 per layer               4096   4
spiral             16       4         <= 0.02 per layer               1000   0.7
mnist_cnn          1        1         no SP (binning, geometry only)  1000   20
================== ======== ========= =============================== ====== ==================

The last column is the time one measured epoch takes on one core of a busy laptop-class CPU
(with the default quantities); the default log schedule measures about 85 epochs per run.

One-dimensional layers (the toys) are estimated with defensive importance sampling of the
queries (``proposal_scale=2`` of ``sample_propagation_mi``), which keeps the standard error
honest when the mixture components are far apart; it costs some variance, hence the query
counts above. The standard error is the Monte Carlo error of the paired queries only; the
bias of the sample-propagation estimator for too few replicas is not in it (see
``Runner.convergence``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import param

EXAMPLE_NAMES = (
    "tanh_neuron",
    "leaky_relu_neuron",
    "two_layer_leaky_relu",
    "szt",
    "spiral",
    "mnist_cnn",
)
TOY_EXAMPLES = ("tanh_neuron", "leaky_relu_neuron", "two_layer_leaky_relu")
ACTIVATIONS = ("tanh", "relu", "leaky_relu", "linear")
OPTIMIZERS = ("gd", "sgd", "adam", "bias_sweep")
QUANTITIES = (
    "sp",
    "bounds",
    "binning",
    "per_unit_binning",
    "geometry",
    "snapshots",
    "bootstrap",
    "exact",
)
# Quantities that evaluate Gaussian mixtures of S + Z and so need additive noise with beta > 0.
SP_QUANTITIES = ("sp", "bounds", "bootstrap", "exact")

CONFIG_VERSION = 1

# Estimator settings per example; see the module docstring for the error each one meets.
_ESTIMATION_DEFAULTS: dict[str, dict[str, Any]] = {
    "tanh_neuron": {
        "replicas": 1,
        "n_queries": 2500,
        "schedule": "log",
        "schedule_points": 100,
        "quantities": ["sp", "bounds", "exact", "binning", "snapshots"],
        "bin_sizes": [1.0, 10.0],
        "snapshot_size": 4,
    },
    "leaky_relu_neuron": {
        "replicas": 1,
        "n_queries": 2500,
        "schedule": "log",
        "schedule_points": 100,
        "quantities": ["sp", "bounds", "exact", "binning", "snapshots"],
        "bin_sizes": [1.0, 10.0],
        "snapshot_size": 4,
    },
    "two_layer_leaky_relu": {
        "replicas": 256,
        "n_queries": 1500,
        "schedule": "log",
        "schedule_points": 100,
        "quantities": ["sp", "bounds", "exact", "binning", "snapshots"],
        "bin_sizes": [1.0, 10.0],
        "snapshot_size": 8,
    },
    "szt": {
        "replicas": 4,
        "n_queries": 2,
        "schedule": "log",
        "schedule_points": 100,
        "quantities": ["sp", "binning", "geometry", "snapshots"],
        "bin_sizes": [10.0],
        "snapshot_size": 1000,
    },
    "spiral": {
        "replicas": 16,
        "n_queries": 4,
        "schedule": "log",
        "schedule_points": 100,
        "quantities": ["sp", "binning", "geometry", "snapshots"],
        "bin_sizes": [10.0],
        "snapshot_size": 1000,
    },
    "mnist_cnn": {
        "replicas": 1,
        "n_queries": 1,
        "schedule": "every",
        "schedule_every": 1,
        "quantities": ["binning", "per_unit_binning", "geometry", "snapshots"],
        "bin_sizes": [0.5],
        "bin_size_units": "absolute",
        "snapshot_size": 1000,
    },
}

# Absolute bin sizes used when a deterministic network (beta = 0) is asked for: Fig. 1 spans
# bins from 1e-4 to 1 on a tanh layer.
_DETERMINISTIC_BIN_SIZES = [1e-4, 1e-3, 1e-2, 1e-1, 0.5]


class ExperimentConfig(param.Parameterized):
    """Every setting of one experiment: network, data, noise, training and estimation.

    Build one with :meth:`for_example` to get the example's defaults, then change single
    parameters. :meth:`validate` refuses combinations that cannot run, and :meth:`sp_status`
    says whether the sample-propagation estimator applies.

    Examples
    --------
    >>> config = ExperimentConfig.for_example("szt", beta=0.005, epochs=2000)
    >>> ExperimentConfig.from_json(config.to_json()) == config
    True
    """

    example = param.Selector(
        default="szt",
        objects=list(EXAMPLE_NAMES),
        doc="Which network and data set of the paper to train: the single tanh neuron and "
        "leaky-ReLU neuron and the two-layer leaky-ReLU net of section 4, the SZT model, the "
        "spiral model or the MNIST CNN of section 5.",
    )
    activation = param.Selector(
        default="tanh",
        objects=list(ACTIVATIONS),
        doc="Nonlinearity of the hidden layers; leaky_relu is R(x) = max(x, x/10).",
    )
    beta = param.Number(
        default=0.005,
        bounds=(0.0, 10.0),
        doc="Standard deviation of the Gaussian noise added after every noisy neuron, "
        "Z ~ N(0, beta^2 I); 0 is the deterministic network.",
    )
    noise = param.Selector(
        default="additive",
        objects=["additive", "dropout"],
        doc="Kind of noise: additive Gaussian noise of standard deviation beta, or dropout "
        "with probability dropout_p.",
    )
    dropout_p = param.Number(
        default=0.2,
        bounds=(0.0, 1.0),
        inclusive_bounds=(True, False),
        doc="Dropout probability when noise is 'dropout'.",
    )
    optimizer = param.Selector(
        default="adam",
        objects=list(OPTIMIZERS),
        doc="Optimiser: gd is full-batch gradient descent, sgd minibatch stochastic gradient "
        "descent without momentum, adam the Adam optimiser; bias_sweep moves the output bias "
        "by -learning_rate per epoch without gradients (the leaky-ReLU neuron, Fig. 6b).",
    )
    learning_rate = param.Number(
        default=4e-4,
        bounds=(0.0, 10.0),
        inclusive_bounds=(False, True),
        doc="Learning rate at the first epoch.",
    )
    lr_final = param.Number(
        default=None,
        allow_None=True,
        bounds=(0.0, 10.0),
        inclusive_bounds=(False, True),
        doc="Learning rate at the last epoch, reached by geometric decay; None keeps "
        "learning_rate constant.",
    )
    batch_size = param.Integer(
        default=256,
        allow_None=True,
        bounds=(1, None),
        doc="Minibatch size; None trains on the full batch.",
    )
    epochs = param.Integer(
        default=1000,
        bounds=(1, 10_000_000),
        doc="Number of training epochs; epoch 0 is the network before any update.",
    )
    orthonormal_alpha = param.Number(
        default=0.0,
        bounds=(0.0, 1.0),
        doc="Strength alpha of the orthonormality step W <- W - alpha (W W^T - I) W after "
        "every update (section 5.1; the paper used 5e-5); 0 turns it off.",
    )
    seed = param.Integer(
        default=0,
        bounds=(0, 2**32 - 1),
        doc="Seed of the initial weights, the data split, the minibatch order and the "
        "training noise; estimation draws from its own streams derived from it.",
    )
    schedule = param.Selector(
        default="log",
        objects=["log", "every"],
        doc="Measurement schedule: log-spaced epochs (schedule_points of them before "
        "rounding) or every schedule_every epochs; epoch 0 and the last are always measured.",
    )
    schedule_points = param.Integer(
        default=100,
        bounds=(2, 100_000),
        doc="Number of log-spaced measurement points before rounding to whole epochs.",
    )
    schedule_every = param.Integer(
        default=1,
        bounds=(1, None),
        doc="Measure every this many epochs when schedule is 'every'.",
    )
    replicas = param.Integer(
        default=4,
        bounds=(1, 100_000),
        doc="Replicas r of each input propagated through the noisy network for the SP "
        "estimator (layer 1 needs only one: its S is a function of X).",
    )
    n_queries = param.Integer(
        default=2,
        bounds=(1, 1_000_000),
        doc="Monte Carlo query points per input for the paired SP estimator (the total is "
        "this times the number of inputs).",
    )
    bin_sizes = param.List(
        default=[10.0],
        doc="Bin sizes B for H(Bin(T)), as multiples of beta or absolute (see "
        "bin_size_units); the paper's B = 10 beta is 10 in units of beta.",
    )
    bin_size_units = param.Selector(
        default="beta",
        objects=["beta", "absolute"],
        doc="Units of bin_sizes: multiples of beta, or absolute values (required when "
        "beta is 0).",
    )
    quantities = param.ListSelector(
        default=["sp", "binning", "geometry", "snapshots"],
        objects=list(QUANTITIES),
        doc="What to compute at each measured epoch: sp (I(X;T), I(Y;T) and entropies), "
        "bounds (pairwise KL and Bhattacharyya bounds), binning (H(Bin(T)) and I(Y;Bin(T))), "
        "per_unit_binning, geometry (distance histograms), snapshots (S of a bounded subset), "
        "bootstrap (sampling error of I(X;T)), exact (true I(X;T) of the 1-D toys). Loss and "
        "accuracy are always recorded.",
    )
    snapshot_size = param.Integer(
        default=1000,
        bounds=(1, 1_000_000),
        doc="Most inputs kept in each snapshot of S (a fixed random subset per run).",
    )
    n_bootstrap = param.Integer(
        default=20,
        bounds=(2, 10_000),
        doc="Bootstrap resamples over inputs and replicas when 'bootstrap' is measured.",
    )
    distance_bins = param.Integer(
        default=50,
        bounds=(2, 10_000),
        doc="Number of bins of the within- and between-class distance histograms.",
    )
    device = param.Selector(
        default="auto",
        objects=["auto", "cpu", "cuda"],
        doc="Where to train and estimate: auto takes CUDA when available, else the CPU.",
    )
    threads = param.Integer(
        default=None,
        allow_None=True,
        bounds=(1, 1024),
        doc="CPU threads torch may use; None takes 1 for the fully connected examples (their "
        "tensors are tiny) and min(4, number of CPU cores) for the MNIST CNN.",
    )

    # ------------------------------------------------------------------ construction

    @classmethod
    def for_example(cls, name: str, **overrides: Any) -> ExperimentConfig:
        """Return the configuration of example ``name`` with its defaults and ``overrides``.

        The training defaults come from ``models.get_example(name)``; the estimator
        defaults are listed in the module docstring. When ``beta`` is 0 and ``bin_size_units``
        is not given, the bins become absolute; when the overrides make the SP estimator
        unavailable and ``quantities`` is not given, the quantities that need it are dropped.

        Parameters
        ----------
        name : str
            One of the example names in ``EXAMPLE_NAMES``.
        **overrides
            Parameter values that replace the defaults.

        Returns
        -------
        ExperimentConfig
        """
        if name not in EXAMPLE_NAMES:
            raise ValueError(f"example must be one of {', '.join(EXAMPLE_NAMES)}, not {name!r}")
        unknown = sorted(set(overrides) - set(_parameter_names()))
        if unknown:
            raise ValueError(f"unknown configuration parameter {unknown[0]!r}")

        values: dict[str, Any] = {"example": name}
        values.update(_model_defaults(name))
        values.update(_ESTIMATION_DEFAULTS[name])
        values.update(overrides)

        if values.get("beta", cls.beta) == 0 and "bin_size_units" not in overrides:
            values["bin_size_units"] = "absolute"
            if "bin_sizes" not in overrides:
                values["bin_sizes"] = list(_DETERMINISTIC_BIN_SIZES)

        config = cls(**values)
        if "quantities" not in overrides and not config.sp_status()[0]:
            config.quantities = [q for q in config.quantities if q not in SP_QUANTITIES]
        if "quantities" not in overrides and name not in TOY_EXAMPLES:
            config.quantities = [q for q in config.quantities if q != "exact"]
        return config

    def copy(self) -> ExperimentConfig:
        """Return an independent configuration with the same values."""
        return type(self).from_json(self.to_json())

    # ------------------------------------------------------------------ serialisation

    def values(self) -> dict[str, Any]:
        """Return every parameter value (not ``name``) as a plain dict."""
        out = {}
        for key in _parameter_names():
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, (list, tuple)) else value
        return out

    def to_json(self, **kwargs: Any) -> str:
        """Return the configuration as JSON text; :meth:`from_json` restores it exactly.

        Floats are written with ``repr`` precision, so every value survives the round trip.
        """
        payload = {"config_version": CONFIG_VERSION, **self.values()}
        kwargs.setdefault("indent", 2)
        kwargs.setdefault("sort_keys", True)
        return json.dumps(payload, **kwargs)

    @classmethod
    def from_json(cls, text: str | bytes | dict[str, Any]) -> ExperimentConfig:
        """Return the configuration stored by :meth:`to_json` (text or an already parsed dict).

        Raises
        ------
        ValueError
            For malformed JSON, an unknown parameter or a newer configuration version.
        """
        if isinstance(text, dict):
            payload = dict(text)
        else:
            try:
                payload = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"configuration is not valid JSON: {exc}") from exc
            if not isinstance(payload, dict):
                raise ValueError("configuration JSON must be an object of parameter values")

        version = payload.pop("config_version", CONFIG_VERSION)
        if version > CONFIG_VERSION:
            raise ValueError(
                f"config_version must be at most {CONFIG_VERSION}, not {version} "
                "(written by a newer release)"
            )
        unknown = sorted(set(payload) - set(_parameter_names()))
        if unknown:
            raise ValueError(f"unknown configuration parameter {unknown[0]!r}")
        return cls(**payload)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExperimentConfig):
            return NotImplemented
        return self.values() == other.values()

    # Identity hash: param and Panel keep Parameterized objects in sets and dicts, so the
    # value equality above must not make configurations unhashable.
    __hash__ = param.Parameterized.__hash__

    def __repr__(self) -> str:
        changed = ", ".join(f"{k}={v!r}" for k, v in self.values().items())
        return f"ExperimentConfig({changed})"

    # ------------------------------------------------------------------ checks

    def sp_status(self) -> tuple[bool, str]:
        """Say whether the sample-propagation estimator applies to this configuration.

        Returns
        -------
        available : bool
        reason : str
            Why not, or a short confirmation.
        """
        if self.example == "mnist_cnn":
            return False, (
                "the MNIST CNN gets binning and geometry only: its pooled layers are not "
                "S + Z and d = 1568-3136 is far beyond any sample size for SP"
            )
        if self.noise != "additive":
            return False, (
                "dropout noise is not additive Gaussian, so T is not a Gaussian mixture; "
                "binning and geometry are available"
            )
        if self.beta == 0:
            return False, (
                "beta = 0 is the deterministic network, where I(X;T) is constant (ln m for "
                "distinct inputs); binning and geometry are available"
            )
        return True, "additive Gaussian noise with beta > 0 in a fully connected network"

    def absolute_bin_sizes(self) -> list[float]:
        """Return the bin sizes in absolute units (multiplied by beta when so configured)."""
        scale = self.beta if self.bin_size_units == "beta" else 1.0
        return [float(b) * scale for b in self.bin_sizes]

    def validate(self) -> ExperimentConfig:
        """Refuse combinations that cannot run; return ``self`` when all is well.

        Raises
        ------
        ValueError
            Naming the parameters, the rule and the values.
        """
        if not isinstance(self.bin_sizes, (list, tuple)) or not self.bin_sizes:
            raise ValueError(f"bin_sizes must be a non-empty list, not {self.bin_sizes!r}")
        for size in self.bin_sizes:
            if isinstance(size, bool) or not isinstance(size, (int, float)):
                raise ValueError(f"bin_sizes must hold numbers, not {size!r}")
            if not math.isfinite(size) or size <= 0:
                raise ValueError(f"bin_sizes must be finite and greater than 0, not {size!r}")
        if self.beta == 0 and self.bin_size_units == "beta":
            raise ValueError(
                "bin_size_units must be 'absolute' when beta is 0 (bins in units of beta "
                "would have zero width), not 'beta'"
            )
        if self.noise == "dropout" and self.dropout_p == 0:
            raise ValueError("dropout_p must be greater than 0 when noise is 'dropout', not 0.0")

        available, reason = self.sp_status()
        wanted = [q for q in self.quantities if q in SP_QUANTITIES]
        if wanted and not available:
            raise ValueError(
                f"quantities {', '.join(wanted)} need the SP estimator, which is unavailable: "
                f"{reason}"
            )
        if "exact" in self.quantities and self.example not in TOY_EXAMPLES:
            raise ValueError(
                "quantities 'exact' is only available for the 1-D toys "
                f"({', '.join(TOY_EXAMPLES)}), not for example {self.example!r}"
            )
        if self.example == "mnist_cnn" and self.orthonormal_alpha > 0:
            raise ValueError(
                "orthonormal_alpha must be 0 for the MNIST CNN (the step is defined for fully "
                f"connected weight matrices), not {self.orthonormal_alpha}"
            )
        from models import get_example

        spec = get_example(self.example)
        if self.activation not in spec.activations:
            raise ValueError(
                f"activation must be one of {', '.join(spec.activations)} for example "
                f"{self.example!r}, not {self.activation!r}"
            )
        if self.noise not in spec.noise_kinds:
            raise ValueError(
                f"noise must be one of {', '.join(spec.noise_kinds)} for example "
                f"{self.example!r}, not {self.noise!r}"
            )
        if self.optimizer in ("gd", "bias_sweep") and self.batch_size is not None:
            raise ValueError(
                f"batch_size must be None (full batch) when optimizer is {self.optimizer!r}, "
                f"not {self.batch_size}"
            )
        return self


def _parameter_names() -> list[str]:
    """Return the configuration's parameter names in declaration order, without ``name``."""
    return [key for key in ExperimentConfig.param if key != "name"]


def _model_defaults(name: str) -> dict[str, Any]:
    """Return the training defaults that ``models`` ships for example ``name``."""
    from models import get_example

    spec = get_example(name)
    return {
        "activation": spec.default_activation,
        "beta": spec.default_beta,
        "noise": spec.default_noise,
        "optimizer": spec.optimizer,
        "learning_rate": spec.learning_rate,
        "lr_final": spec.lr_final,
        "batch_size": spec.batch_size,
        "epochs": spec.epochs,
    }
