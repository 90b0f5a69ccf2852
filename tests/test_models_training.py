"""The trainer, its schedules, the orthonormality step, augmentation and the paper's runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import (
    Dataset,
    NoisyMLP,
    Trainer,
    augment_images,
    every_schedule,
    get_example,
    log_schedule,
    orthonormal_step,
    spiral_dataset,
    szt_split,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _szt_trainer(beta: float = 0.05, noise: str = "additive", seed: int = 0, **kwargs) -> Trainer:
    spec = get_example("szt")
    model = spec.build_model("tanh", beta, noise, 0.2, seed=seed)
    options = {**spec.trainer_defaults(), **kwargs}
    return Trainer(model, szt_split(seed), seed=seed, device="cpu", **options)


# -- schedules --------------------------------------------------------------------------


def test_log_schedule_matches_the_reference_epochs() -> None:
    schedule = log_schedule(10_000)
    reference = np.unique(np.round(np.logspace(0, np.log10(9999), 100))).astype(int)
    assert len(reference) == 84
    assert schedule == [0, *reference.tolist(), 10_000]
    assert log_schedule(1) == [0, 1] and log_schedule(2) == [0, 1, 2]


def test_every_schedule_includes_zero_and_the_last_epoch() -> None:
    assert every_schedule(10, 4) == [0, 4, 8, 10]
    assert every_schedule(8, 4) == [0, 4, 8]
    with pytest.raises(ValueError, match="k must be at least 1, not 0"):
        every_schedule(10, 0)


# -- orthonormality step ----------------------------------------------------------------


def test_orthonormal_step_maps_singular_values_as_the_closed_form() -> None:
    torch.manual_seed(0)
    weight = torch.randn(5, 8, dtype=torch.float64)
    before = torch.linalg.svdvals(weight)
    orthonormal_step(weight, 0.01)
    expected = before * (1 + 0.01 - 0.01 * before**2)
    torch.testing.assert_close(torch.linalg.svdvals(weight), expected.sort(descending=True).values)


@pytest.mark.parametrize("shape", [(4, 7), (7, 4), (3, 2, 5, 5)])
def test_orthonormal_step_drives_singular_values_to_one(shape) -> None:
    torch.manual_seed(1)
    weight = 0.3 * torch.randn(*shape, dtype=torch.float64)
    for _ in range(400):
        orthonormal_step(weight, 0.05)
    values = torch.linalg.svdvals(weight.reshape(shape[0], -1))
    torch.testing.assert_close(values, torch.ones_like(values), atol=1e-6, rtol=0)


def test_trainer_applies_the_step_after_each_update() -> None:
    full = szt_split(0)
    small = Dataset(
        full.train_x[:64], full.train_y[:64], full.test_x[:16], full.test_y[:16],
        full.estimation_x[:16], full.estimation_y[:16], "classification", 2, "small",
    )  # fmt: skip
    spec = get_example("szt")
    runs = [
        Trainer(spec.build_model(seed=2), small, optimizer="gd", learning_rate=1e-12,
                orthonormal_alpha=alpha, orthonormal_output=False, device="cpu")
        for alpha in (0.0, 0.2)
    ]  # fmt: skip
    for _ in range(80):
        for trainer in runs:
            trainer.step()
    plain, normed = runs
    layers = normed.model.layers
    for layer in layers[:-1]:
        values = torch.linalg.svdvals(layer.linear.weight.detach())
        torch.testing.assert_close(values, torch.ones_like(values), atol=1e-3, rtol=0)
    before = torch.linalg.svdvals(plain.model.layers[1].linear.weight.detach())
    assert float((before - 1).abs().max()) > 0.1  # without the step they are far from 1
    # The output layer was left alone, so it matches the run without the step.
    torch.testing.assert_close(layers[-1].linear.weight, plain.model.layers[-1].linear.weight)


# -- trainer mechanics ------------------------------------------------------------------


def test_epochs_steps_and_geometric_learning_rate() -> None:
    trainer = _szt_trainer(
        optimizer="sgd", learning_rate=5e-3, lr_final=5e-4, epochs=5, batch_size=1000
    )
    assert trainer.epoch == 0 and trainer.steps_per_epoch == 4  # 3277 rows
    rates = []
    for _ in range(5):
        rates.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.train_epoch()
    np.testing.assert_allclose(rates, 5e-3 * 0.1 ** (np.arange(5) / 4), rtol=1e-12)
    assert trainer.epoch == 5
    trainer.set_learning_rate(1e-3)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_same_seed_same_weights_and_minibatches_across_noise() -> None:
    runs = [
        _szt_trainer(beta=0.0, seed=7),
        _szt_trainer(beta=0.2, seed=7),
        _szt_trainer(beta=0.0, noise="dropout", seed=7),
    ]
    for trainer in runs[1:]:
        assert all(
            torch.equal(p, q)
            for p, q in zip(trainer.model.parameters(), runs[0].model.parameters(), strict=True)
        )
    orders = []
    for trainer in runs:
        trainer.step()
        orders.append(trainer.state_dict()["order"])
    assert all(torch.equal(order, orders[0]) for order in orders[1:])
    other = _szt_trainer(seed=8)
    other.step()
    assert not torch.equal(other.state_dict()["order"], orders[0])


def test_resuming_from_a_state_dict_continues_bit_for_bit() -> None:
    first = _szt_trainer(beta=0.1, seed=3, batch_size=500)
    for _ in range(9):  # stop in the middle of an epoch
        first.step()
    state = first.state_dict()
    for _ in range(10):
        first.step()

    second = _szt_trainer(beta=0.1, seed=3, batch_size=500)
    second.load_state_dict(state)
    for _ in range(10):
        second.step()
    assert second.epoch == first.epoch == 2
    for p, q in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert first.evaluate() == second.evaluate()


def test_evaluation_is_deterministic_and_does_not_disturb_training() -> None:
    a, b = _szt_trainer(seed=4), _szt_trainer(seed=4)
    a.step()
    b.step()
    first = a.evaluate()
    assert a.evaluate() == first
    a.step()
    b.step()
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert set(first) == {"train_loss", "train_accuracy", "test_loss", "test_accuracy"}


def test_bias_sweep_moves_b_linearly_and_has_no_accuracy() -> None:
    spec = get_example("leaky_relu_neuron")
    trainer = Trainer(
        spec.build_model(), spec.load_data(), **spec.trainer_defaults(), device="cpu"
    )
    trainer.train_epochs(250)
    assert trainer.model.layers[0].linear.bias.item() == pytest.approx(-2.5, abs=1e-5)
    assert trainer.model.layers[0].linear.weight.item() == 1.0
    result = trainer.evaluate()
    assert result["train_accuracy"] is None and result["test_accuracy"] is None


def test_run_calls_back_at_scheduled_epochs() -> None:
    seen = []
    trainer = _szt_trainer(
        epochs=4, batch_size=None, callback=lambda t: seen.append(t.epoch), schedule=[0, 2, 4]
    )
    trainer.run()
    assert seen == [0, 2, 4]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"optimizer": "rmsprop"}, ValueError, "optimizer must be one of"),
        ({"loss": "hinge"}, ValueError, "loss must be one of"),
        ({"optimizer": "gd", "batch_size": 32}, ValueError, "batch_size must be None for"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate must be greater than 0, not -1.0"),
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1, not 0"),
        ({"augment": True}, ValueError, "augment needs image data"),
        ({"optimizer": "bias_sweep", "batch_size": None}, ValueError, "bias_sweep"),
        ({"orthonormal_alpha": -0.1}, ValueError, "orthonormal_alpha must be at least 0"),
    ],
)
def test_trainer_rejects_bad_settings(kwargs, error, message) -> None:
    spec = get_example("szt")
    model = spec.build_model()
    if kwargs.get("optimizer") == "bias_sweep":
        model = get_example("mnist_cnn").build_model()
    data = szt_split(0)
    with pytest.raises(error, match=message):
        Trainer(model, data, **{"device": "cpu", **kwargs})


def test_trainer_rejects_mse_targets_for_regression_with_cross_entropy() -> None:
    spec = get_example("tanh_neuron")
    with pytest.raises(ValueError, match="loss must be 'mse' for a regression data set"):
        Trainer(spec.build_model(), spec.load_data(), loss="cross_entropy", device="cpu")
    with pytest.raises(TypeError, match="data must be a models.Dataset"):
        Trainer(spec.build_model(), {"x": 1}, device="cpu")


# -- augmentation -----------------------------------------------------------------------


def test_pure_shifts_move_pixels_by_whole_pixels() -> None:
    images = torch.rand(200, 1, 28, 28)
    generator = torch.Generator().manual_seed(0)
    shifted = augment_images(images, generator, max_rotation=0.0, max_shear=0.0)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for image, result in zip(padded, shifted, strict=True):
        # Exactly one of the 25 whole-pixel shifts reproduces the result.
        matches = [
            torch.allclose(result, image[:, 2 - dy : 30 - dy, 2 - dx : 30 - dx], atol=1e-5)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
        ]
        assert sum(matches) == 1


def test_augmentation_rotates_within_ten_degrees_and_is_seeded() -> None:
    # A thin horizontal bar through the centre: its angle after augmentation reveals the
    # rotation plus shear, which stays within about 20 degrees.
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 13:15, 4:24] = 1.0
    images = image.repeat(300, 1, 1, 1)
    out = augment_images(images, torch.Generator().manual_seed(1), max_shift=0)
    again = augment_images(images, torch.Generator().manual_seed(1), max_shift=0)
    assert torch.equal(out, again)
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    weights = out[:, 0]
    mass = weights.sum(dim=(1, 2))
    mx = (weights * xs).sum(dim=(1, 2)) / mass
    my = (weights * ys).sum(dim=(1, 2)) / mass
    cxx = (weights * (xs - mx[:, None, None]) ** 2).sum(dim=(1, 2))
    cxy = (weights * (xs - mx[:, None, None]) * (ys - my[:, None, None])).sum(dim=(1, 2))
    cyy = (weights * (ys - my[:, None, None]) ** 2).sum(dim=(1, 2))
    angle = torch.rad2deg(0.5 * torch.atan2(2 * cxy, cxx - cyy)).abs()
    assert float(angle.max()) < 11.0 and float(angle.mean()) > 2.0


# -- the paper's runs -------------------------------------------------------------------


@pytest.mark.slow
def test_szt_tanh_reaches_90_percent_test_accuracy_in_1000_epochs() -> None:
    trainer = _szt_trainer(beta=0.005, seed=0)
    trainer.train_epochs(1000)
    assert trainer.evaluate()["test_accuracy"] >= 0.90


def test_spiral_model_reaches_95_percent_train_accuracy() -> None:
    spec = get_example("spiral")
    model = spec.build_model(seed=0)
    trainer = Trainer(model, spec.load_data(0), **spec.trainer_defaults(), seed=0, device="cpu")
    trainer.train_epochs(spec.epochs)
    assert trainer.evaluate()["train_accuracy"] >= 0.95


def test_mnist_cnn_one_epoch_is_well_above_chance() -> None:
    spec = get_example("mnist_cnn")
    model = spec.build_model(seed=0)
    assert model.fc1.in_features == 1568
    trainer = Trainer(model, spec.load_data(0), **spec.trainer_defaults(), seed=0, device="cpu")
    assert not trainer.eval_noise and trainer.augment
    trainer.train_epoch()
    assert trainer.evaluate()["test_accuracy"] > 0.5  # chance is 0.1


def test_empty_training_data_cannot_be_built() -> None:
    x, y = torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)
    with pytest.raises(ValueError, match="train_x must hold at least one sample, not 0"):
        Dataset(x, y, x, y, x, y, "classification", 2, "empty")
    model = NoisyMLP([2, 3, 2])
    assert spiral_dataset(n_points=8).train_x.shape[0] > 0
    with pytest.raises(ValueError, match="test_fraction must leave both splits non-empty"):
        spiral_dataset(n_points=4, test_fraction=0.01)
    del model
