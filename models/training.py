"""Training the noisy networks one step or one epoch at a time.

The :class:`Trainer` owns three random streams, all derived from its ``seed``: the order of
the minibatches, the training noise and the augmentation. They are separate, so the same seed
gives the same minibatches whatever the noise (appendix A compares representations of
networks that differ only in their noise), and sampling for the estimators
(:func:`~models.sampling.sample_hidden_layers`) draws from a stream of its own.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from estimators._validation import check_int, check_positive, check_seed

from .data import Dataset

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd", "gd", "bias_sweep")
LOSSES = ("mse", "cross_entropy")

# Rows evaluated at once by Trainer.evaluate (bounds memory for the CNN).
_EVAL_CHUNK = 1024


# ----------------------------------------------------------------------------------------
# Measurement schedules


def log_schedule(epochs: int, n_points: int = 100) -> list[int]:
    """Return log-spaced measurement epochs, with 0 and ``epochs`` always included.

    The epochs are ``unique(round(logspace(0, log10(epochs - 1), n_points)))`` (84 values for
    10 000 epochs and 100 points), plus 0 (before any update) and ``epochs`` (after the last).

    Parameters
    ----------
    epochs : int
        Number of training epochs E.
    n_points : int, default=100
        Number of log-spaced points before rounding.

    Returns
    -------
    list of int
        Sorted epochs (numbers of completed epochs) in [0, E].
    """
    epochs = check_int("epochs", epochs, minimum=1)
    n_points = check_int("n_points", n_points, minimum=1)
    if epochs <= 2:
        return list(range(epochs + 1))
    spaced = np.round(np.logspace(0, np.log10(epochs - 1), n_points)).astype(int)
    return sorted({0, epochs, *spaced.tolist()})


def every_schedule(epochs: int, k: int) -> list[int]:
    """Return the epochs 0, k, 2k, ... up to ``epochs``, with ``epochs`` always included."""
    epochs = check_int("epochs", epochs, minimum=1)
    k = check_int("k", k, minimum=1)
    return sorted({*range(0, epochs + 1, k), epochs})


# ----------------------------------------------------------------------------------------
# Orthonormality step and augmentation


def orthonormal_step(weight: torch.Tensor, alpha: float) -> None:
    """Apply W <- W - alpha (W W^T - I) W in place (section 5.1, after Cisse et al.).

    The step maps each singular value s of W to s (1 + alpha - alpha s^2), which moves it
    towards 1. A convolution kernel is treated as the matrix of shape (out, in * k * k).

    Parameters
    ----------
    weight : torch.Tensor
        A weight of shape (out, in) or (out, in, k, k); it is modified in place.
    alpha : float
        Strength of the step (the paper found 5e-5 best for the SZT model).
    """
    with torch.no_grad():
        matrix = weight.reshape(weight.shape[0], -1)
        gram = matrix @ matrix.T
        gram.diagonal().sub_(1.0)
        matrix.sub_(alpha * (gram @ matrix))


def weight_matrices(model: nn.Module, *, include_output: bool = True) -> list[torch.Tensor]:
    """Return the weights of the fully connected and convolutional layers, input side first.

    The last one is the output layer's; ``include_output=False`` leaves it out.
    """
    weights = [
        module.weight for module in model.modules() if isinstance(module, (nn.Linear, nn.Conv2d))
    ]
    return weights if include_output else weights[:-1]


def augment_images(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    max_shift: int = 2,
    max_rotation: float = 10.0,
    max_shear: float = 10.0,
) -> torch.Tensor:
    """Return randomly translated, rotated and sheared copies of square images (appendix A).

    Each image gets its own transform: shifts in x and y drawn uniformly from
    {-max_shift, ..., max_shift} pixels, a rotation and a horizontal shear drawn uniformly
    from (-max_rotation, max_rotation) and (-max_shear, max_shear) degrees, about the centre.
    Pixels are resampled bilinearly; what comes from outside the image is 0.

    Parameters
    ----------
    images : torch.Tensor
        Shape (n, c, h, h).
    generator : torch.Generator, optional
        CPU random stream of the transform parameters.
    max_shift : int, default=2
    max_rotation, max_shear : float, default=10.0
        In degrees.
    """
    if images.ndim != 4 or images.shape[2] != images.shape[3]:
        raise ValueError(f"images must have shape (n, c, h, h), not {tuple(images.shape)}")
    n, size = images.shape[0], images.shape[-1]
    shift = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator)
    angles = (torch.rand(n, 2, generator=generator, dtype=torch.float64) * 2 - 1) * torch.tensor(
        [max_rotation, max_shear], dtype=torch.float64
    )
    rotation, shear = torch.deg2rad(angles).unbind(1)

    # Forward map p -> R(rotation) S(shear) p + shift; the sampling grid needs its inverse.
    cos, sin = torch.cos(rotation), torch.sin(rotation)
    rotate = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    shear_matrix = torch.zeros(n, 2, 2, dtype=torch.float64)
    shear_matrix[:, 0, 0] = 1.0
    shear_matrix[:, 1, 1] = 1.0
    shear_matrix[:, 0, 1] = torch.tan(shear)
    inverse = torch.linalg.inv(rotate @ shear_matrix)
    offset = shift.to(torch.float64) * (2.0 / size)  # pixels in normalised coordinates
    theta = torch.cat([inverse, -(inverse @ offset.unsqueeze(2))], dim=2)

    grid = F.affine_grid(
        theta.to(images.dtype).to(images.device), list(images.shape), align_corners=False
    )
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


# ----------------------------------------------------------------------------------------
# Trainer


def default_device() -> torch.device:
    """Return CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _stream_seeds(seed: int | None, count: int) -> list[int]:
    """Return ``count`` independent 63-bit seeds derived from ``seed``."""
    sequence = np.random.SeedSequence(seed)
    return [int(value) >> 1 for value in sequence.generate_state(count, dtype=np.uint64)]


class Trainer:
    """Train a noisy network on a :class:`~models.data.Dataset`, one step or epoch at a time.

    Training always uses the noisy network (``noise=True``); :meth:`evaluate` uses the
    deterministic one unless ``eval_noise`` is set. Batch norm is in training mode during
    updates and in eval mode during evaluation.

    Parameters
    ----------
    model : NoisyMLP or MnistCNN
        The network; it is moved to ``device``.
    data : Dataset
        Training and test data.
    optimizer : {"adam", "sgd", "gd", "bias_sweep"}, default="adam"
        Adam; minibatch SGD without momentum; full-batch gradient descent (SGD on the whole
        training set each step); or ``"bias_sweep"``, which does not use gradients: each
        epoch moves the output layer's bias by -learning_rate, so a neuron S = R(X - b)
        sees b grow linearly (Fig. 6b).
    learning_rate : float, default=1e-3
        Learning rate of the first epoch (for ``"bias_sweep"``: the change of b per epoch).
    lr_final : float, optional
        Learning rate of the last epoch; between them the rate decays geometrically,
        lr_e = lr (lr_final / lr)^(e / (epochs - 1)) for epoch e = 0 ... epochs - 1.
    epochs : int, default=1
        Planned number of epochs (the schedule's length); training may go on past it at
        ``lr_final``.
    batch_size : int, optional
        Minibatch size; None trains on the whole training set at once (forced for "gd").
    loss : {"mse", "cross_entropy"}, optional
        Mean squared error (mean over samples and outputs, no factor 1/2) or cross-entropy
        of the logits. By default cross-entropy for classification, mse for regression.
    orthonormal_alpha : float, default=0.0
        Strength alpha of the orthonormality step applied after every update (0: off).
    orthonormal_output : bool, default=True
        Whether the step also applies to the output layer. The paper's update runs over
        l in [L], which includes the output, so it does by default.
    augment : bool, default=False
        Randomly translate, rotate and shear each training image each time it is used.
    seed : int, default=0
        Seed of the minibatch order, training noise and augmentation streams.
    device : str or torch.device, optional
        CUDA when available, else the CPU.
    eval_noise : bool, default=False
        Evaluate loss and accuracy on the noisy network instead of the deterministic one.
    callback : callable, optional
        Called as ``callback(trainer)`` by :meth:`run` at each epoch of ``schedule``.
    schedule : iterable of int, optional
        Epochs at which :meth:`run` calls ``callback``; all epochs by default.

    Attributes
    ----------
    epoch : int
        Epochs completed; 0 is the state before any update.
    """

    def __init__(
        self,
        model: nn.Module,
        data: Dataset,
        *,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        lr_final: float | None = None,
        epochs: int = 1,
        batch_size: int | None = None,
        loss: str | None = None,
        orthonormal_alpha: float = 0.0,
        orthonormal_output: bool = True,
        augment: bool = False,
        seed: int | None = 0,
        device: str | torch.device | None = None,
        eval_noise: bool = False,
        callback: Callable[[Trainer], Any] | None = None,
        schedule: Iterable[int] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module) or not hasattr(model, "hidden_layers"):
            raise TypeError(f"model must be a noisy network of models, not {type(model)!r}")
        if not isinstance(data, Dataset):
            raise TypeError(f"data must be a models.Dataset, not {type(data).__name__}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, not {optimizer!r}")
        if loss is None:
            loss = "cross_entropy" if data.task == "classification" else "mse"
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {list(LOSSES)}, not {loss!r}")
        if loss == "cross_entropy" and data.task != "classification":
            raise ValueError(f"loss must be 'mse' for a {data.task} data set, not 'cross_entropy'")
        self.learning_rate = check_positive("learning_rate", learning_rate)
        self.lr_final = None if lr_final is None else check_positive("lr_final", lr_final)
        self.epochs = check_int("epochs", epochs, minimum=1)
        n_train = int(data.train_x.shape[0])
        if optimizer in ("gd", "bias_sweep") and batch_size is not None:
            raise ValueError(
                f"batch_size must be None for optimizer {optimizer!r}, not {batch_size}"
            )
        self.batch_size = (
            n_train if batch_size is None else check_int("batch_size", batch_size, minimum=1)
        )
        self.orthonormal_alpha = check_positive(
            "orthonormal_alpha", orthonormal_alpha, allow_zero=True
        )
        self.orthonormal_output = bool(orthonormal_output)
        if augment and data.train_x.ndim != 4:
            raise ValueError(
                f"augment needs image data of shape (n, c, h, w), not {tuple(data.train_x.shape)}"
            )
        if optimizer == "bias_sweep" and not isinstance(
            getattr(model, "layers", None), nn.ModuleList
        ):
            raise ValueError("optimizer 'bias_sweep' needs a NoisyMLP, whose output bias it moves")
        self.seed = check_seed(seed)
        self.optimizer_name = optimizer
        self.loss_name = loss
        self.augment = bool(augment)
        self.eval_noise = bool(eval_noise)
        self.callback = callback
        self.schedule = None if schedule is None else sorted({int(e) for e in schedule})

        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device)
        self.data = data
        self._train_x = data.train_x.to(self.device)
        self._train_y = self._targets(data.train_y.to(self.device))
        self._test_x = data.test_x.to(self.device)
        self._test_y = self._targets(data.test_y.to(self.device))
        self._n_train = n_train

        # One generator per purpose: the minibatch order does not depend on the noise.
        order_seed, noise_seed, augment_seed, eval_seed = _stream_seeds(self.seed, 4)
        self._order_generator = torch.Generator().manual_seed(order_seed)
        self._noise_generator = torch.Generator(device=self.device).manual_seed(noise_seed)
        self._augment_generator = torch.Generator().manual_seed(augment_seed)
        self._eval_seed = eval_seed

        params = list(self.model.parameters())
        self._parameters = [p for p in params if p.requires_grad]
        if optimizer == "adam":
            self.optimizer: torch.optim.Optimizer | None = torch.optim.Adam(
                params, lr=self.learning_rate
            )
        elif optimizer in ("sgd", "gd"):
            self.optimizer = torch.optim.SGD(params, lr=self.learning_rate, momentum=0.0)
        else:
            self.optimizer = None
        self._orthonormal_weights = weight_matrices(
            self.model, include_output=self.orthonormal_output
        )

        self.epoch = 0
        self._position = 0
        self._order: torch.Tensor | None = None
        self._lr_scale = 1.0
        self._apply_learning_rate()

    # -- learning rate ------------------------------------------------------------------

    def scheduled_learning_rate(self, epoch: int | None = None) -> float:
        """Return the learning rate of ``epoch`` (default: the current one)."""
        epoch = self.epoch if epoch is None else epoch
        rate = self.learning_rate
        if self.lr_final is not None and self.epochs > 1:
            fraction = min(epoch / (self.epochs - 1), 1.0)
            rate = self.learning_rate * (self.lr_final / self.learning_rate) ** fraction
        return rate * self._lr_scale

    @property
    def current_learning_rate(self) -> float:
        """The learning rate in use now."""
        return self.scheduled_learning_rate()

    def set_learning_rate(self, learning_rate: float) -> None:
        """Use ``learning_rate`` from now on.

        A geometric schedule keeps its shape: the remaining epochs are scaled by the ratio of
        the new rate to the scheduled one.
        """
        learning_rate = check_positive("learning_rate", learning_rate)
        self._lr_scale = 1.0
        self._lr_scale = learning_rate / self.scheduled_learning_rate()
        self._apply_learning_rate()

    def _apply_learning_rate(self) -> None:
        if self.optimizer is None:
            return
        rate = self.current_learning_rate
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    # -- training -----------------------------------------------------------------------

    def _targets(self, y: torch.Tensor) -> torch.Tensor:
        """Return targets in the form the loss needs."""
        if self.loss_name == "cross_entropy":
            return y.long()
        return y.to(next(self.model.parameters()).dtype)

    def _loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "cross_entropy":
            return F.cross_entropy(output, y)
        return F.mse_loss(output, y.reshape(output.shape) if y.ndim == 1 else y)

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.batch_size >= self._n_train:
            return self._train_x, self._train_y
        if self._order is None:
            self._order = torch.randperm(self._n_train, generator=self._order_generator)
        index = self._order[self._position : self._position + self.batch_size].to(self.device)
        return self._train_x[index], self._train_y[index]

    @property
    def steps_per_epoch(self) -> int:
        """Number of minibatches in one epoch."""
        return math.ceil(self._n_train / self.batch_size)

    def step(self) -> float:
        """Do one update on the next minibatch and return its (noisy) training loss."""
        x, y = self._next_batch()
        if self.augment:
            x = augment_images(x.cpu(), self._augment_generator).to(self.device)
        if not self.model.training:
            self.model.train()

        if self.optimizer is None:
            # The bias sweep: b grows by learning_rate per epoch, no gradient involved.
            with torch.no_grad():
                output = self.model(x, noise=True, generator=self._noise_generator)
                loss = self._loss(output, y)
                self.model.layers[-1].linear.bias.sub_(self.current_learning_rate)
        elif self.optimizer_name == "adam":
            output = self.model(x, noise=True, generator=self._noise_generator)
            loss = self._loss(output, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        else:
            # Plain (S)GD without momentum, written out: the same update as torch.optim.SGD
            # without its per-step bookkeeping, which dominates for the toy networks.
            output = self.model(x, noise=True, generator=self._noise_generator)
            loss = self._loss(output, y)
            gradients = torch.autograd.grad(loss, self._parameters)
            rate = self.optimizer.param_groups[0]["lr"]
            with torch.no_grad():
                for parameter, gradient in zip(self._parameters, gradients, strict=True):
                    parameter.add_(gradient, alpha=-rate)
        if self.optimizer is not None and self.orthonormal_alpha > 0:
            for weight in self._orthonormal_weights:
                orthonormal_step(weight, self.orthonormal_alpha)

        self._position += self.batch_size
        if self._position >= self._n_train:
            self._position = 0
            self._order = None
            self.epoch += 1
            self._apply_learning_rate()
        return float(loss.detach())

    def train_epoch(self) -> float:
        """Finish the current epoch and return the mean training loss of its steps."""
        start = self.epoch
        total, count = 0.0, 0
        while self.epoch == start:
            total += self.step()
            count += 1
        return total / count

    def train_epochs(self, n: int) -> None:
        """Train ``n`` more epochs without computing mean losses (the fast path for toys)."""
        n = check_int("n", n, minimum=0)
        target = self.epoch + n
        while self.epoch < target:
            self.step()

    def run(self, until: int | None = None) -> None:
        """Train up to epoch ``until`` (default ``epochs``), calling back at scheduled epochs.

        The callback also runs at the current epoch when it is scheduled (epoch 0 for a new
        trainer).
        """
        until = self.epochs if until is None else check_int("until", until, minimum=0)
        scheduled = None if self.schedule is None else set(self.schedule)
        if self.callback is not None and (scheduled is None or self.epoch in scheduled):
            self.callback(self)
        while self.epoch < until:
            self.train_epoch()
            if self.callback is not None and (scheduled is None or self.epoch in scheduled):
                self.callback(self)

    # -- evaluation ---------------------------------------------------------------------

    def _accuracy(self, output: torch.Tensor, y: torch.Tensor) -> float | None:
        if self.data.task == "classification":
            return float((output.argmax(dim=1) == y).float().mean())
        if self.data.class_values is None:
            return None
        values = torch.tensor(self.data.class_values, dtype=output.dtype, device=output.device)
        predicted = values[(output.reshape(-1, 1) - values).abs().argmin(dim=1)]
        return float((predicted == y.reshape(-1)).float().mean())

    def _evaluate_split(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[float, float | None]:
        outputs = [
            self.model(x[start : start + _EVAL_CHUNK], noise=self.eval_noise, generator=generator)
            for start in range(0, x.shape[0], _EVAL_CHUNK)
        ]
        output = torch.cat(outputs)
        return float(self._loss(output, y)), self._accuracy(output, y)

    def evaluate(self) -> dict[str, float | None]:
        """Return train and test loss and accuracy of the current model.

        The deterministic network is evaluated unless ``eval_noise`` is set; then the noise
        comes from a stream seeded by the trainer's seed and the epoch, so evaluating does not
        disturb training and gives the same numbers when repeated. Accuracy is None for a
        regression data set without class values.

        Returns
        -------
        dict
            ``train_loss``, ``train_accuracy``, ``test_loss``, ``test_accuracy``.
        """
        generator = torch.Generator(device=self.device).manual_seed(
            (self._eval_seed + self.epoch) % 2**63
        )
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                train_loss, train_accuracy = self._evaluate_split(
                    self._train_x, self._train_y, generator
                )
                test_loss, test_accuracy = self._evaluate_split(
                    self._test_x, self._test_y, generator
                )
        finally:
            self.model.train(was_training)
        return {
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
        }

    # -- checkpoints --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Return everything needed to continue training bit for bit.

        Weights, optimiser state, epoch and position in it, the current minibatch order,
        the learning-rate scale and the states of all random streams.
        """
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            # Deep copies: the optimizer's state tensors are updated in place by later steps.
            "optimizer": None
            if self.optimizer is None
            else copy.deepcopy(self.optimizer.state_dict()),
            "epoch": self.epoch,
            "position": self._position,
            "order": None if self._order is None else self._order.clone(),
            "lr_scale": self._lr_scale,
            "generators": {
                "order": self._order_generator.get_state(),
                "noise": self._noise_generator.get_state(),
                "augment": self._augment_generator.get_state(),
            },
            "seed": self.seed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by :meth:`state_dict`."""
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None:
            if state["optimizer"] is None:
                raise ValueError("state must hold an optimizer state for this trainer, not None")
            self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self._position = int(state["position"])
        self._order = None if state["order"] is None else state["order"].clone()
        self._lr_scale = float(state["lr_scale"])
        self._order_generator.set_state(state["generators"]["order"])
        self._noise_generator.set_state(state["generators"]["noise"])
        self._augment_generator.set_state(state["generators"]["augment"])
        self._apply_learning_rate()
