"""The noisy networks and the sampling of their hidden layers."""

from __future__ import annotations

import pytest
import torch

from models import (
    EXAMPLES,
    MnistCNN,
    NoisyMLP,
    get_example,
    leaky_relu,
    sample_hidden_layers,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _szt_net(beta: float = 0.1, **kwargs) -> NoisyMLP:
    torch.manual_seed(0)
    return NoisyMLP([12, 10, 7, 5, 4, 3, 2], "tanh", beta, **kwargs)


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# -- activations and layers -------------------------------------------------------------


def test_leaky_relu_is_max_of_x_and_x_over_ten() -> None:
    x = torch.tensor([-5.0, -0.1, 0.0, 0.3, 4.0])
    torch.testing.assert_close(leaky_relu(x), torch.tensor([-0.5, -0.01, 0.0, 0.3, 4.0]))


def test_hidden_layer_noise_has_standard_deviation_beta() -> None:
    beta = 0.1
    model = _szt_net(beta)
    x = torch.rand(1, 12).repeat(20000, 1)
    generator = torch.Generator().manual_seed(1)
    for layer in model.hidden_layers(x, noise=True, generator=generator):
        noise = (layer.noisy - layer.clean).detach()
        # 20000 draws per unit: the sample std is within 2 % of beta with overwhelming odds.
        torch.testing.assert_close(
            noise.std(dim=0), torch.full_like(noise[0], beta), rtol=0.02, atol=0
        )
        assert float(noise.mean(dim=0).abs().max()) < 4 * beta / 20000**0.5


def test_beta_zero_and_noise_off_are_deterministic() -> None:
    x = torch.rand(50, 12)
    model = _szt_net(0.0)
    for layer in model.hidden_layers(x, noise=True):
        assert torch.equal(layer.clean, layer.noisy)
    noisy = _szt_net(0.3)
    first, second = noisy(x, noise=False), noisy(x, noise=False)
    assert torch.equal(first, second)
    assert not torch.equal(noisy(x), noisy(x))


def test_classifier_output_is_never_noisy() -> None:
    model = _szt_net(0.5)
    x = torch.rand(30, 12)
    outputs = model.all_layers(x, noise=True)
    assert torch.equal(outputs[-1].clean, outputs[-1].noisy)
    assert len(model.hidden_layers(x)) == 5 and model.layer_widths == [10, 7, 5, 4, 3]
    # The output is f_L of the noisy last hidden layer, with nothing added.
    last = model.layers[-1]
    torch.testing.assert_close(
        model(x, generator=torch.Generator().manual_seed(4)),
        last.clean(model.hidden_layers(x, generator=torch.Generator().manual_seed(4))[-1].noisy),
    )


def test_toy_output_is_noisy_and_reported() -> None:
    model = get_example("tanh_neuron").build_model()
    x = torch.zeros(20000, 1)
    with torch.no_grad():
        (layer,) = model.hidden_layers(x, generator=torch.Generator().manual_seed(0))
    assert float(layer.clean.abs().max()) == 0.0  # w = b = 0
    assert abs(float(layer.noisy.std()) - 0.05) < 0.002
    assert model.layer_widths == [1] and model.output_reported


def test_noise_is_chosen_per_call_not_by_train_or_eval_mode() -> None:
    model = _szt_net(0.2)
    x = torch.rand(10, 12)
    model.eval()
    assert not torch.equal(model(x, noise=True), model(x, noise=False))
    model.train()
    assert torch.equal(model(x, noise=False), model(x, noise=False))


def test_dropout_zeroes_about_p_and_keeps_the_mean() -> None:
    torch.manual_seed(0)
    model = NoisyMLP([3, 2000, 2], "relu", noise="dropout", dropout_p=0.2)
    x = torch.rand(200, 3)
    with torch.no_grad():
        (layer,) = model.hidden_layers(x, generator=torch.Generator().manual_seed(0))
    active = layer.clean > 0
    dropped = (layer.noisy[active] == 0).float().mean()
    assert abs(float(dropped) - 0.2) < 0.01
    ratio = layer.noisy.sum() / layer.clean.sum()
    assert abs(float(ratio) - 1.0) < 0.02
    assert not model.supports_sample_propagation


def test_mnist_cnn_matches_appendix_a() -> None:
    torch.manual_seed(0)
    model = MnistCNN(0.1)
    assert model.fc1.in_features == 1568 and model.fc1.out_features == 128
    assert model.conv1.padding == (2, 2) and model.conv1.kernel_size == (5, 5)
    assert (model.conv2.in_channels, model.conv2.out_channels) == (16, 32)
    for layer in (model.conv1, model.conv2, model.fc1, model.fc2):
        assert layer.bias.abs().max().item() == 0.0
        fan_in = layer.weight[0].numel()
        assert layer.weight.abs().max().item() <= fan_in**-0.5
    x = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        layers = model.hidden_layers(x)
    assert [tuple(layer.clean.shape) for layer in layers] == [
        (6, 3136),
        (6, 1568),
        (6, 128),
        (6, 10),
    ]
    assert model.layer_widths == [3136, 1568, 128, 10]
    assert torch.equal(layers[3].clean, layers[3].noisy)
    assert float(layers[2].clean.abs().max()) <= 1.0  # layer 3 is a tanh output
    assert torch.equal(model(x.reshape(6, 784), noise=False), model(x, noise=False))
    assert not model.supports_sample_propagation


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: NoisyMLP([2, 3], "tanh", -0.1), ValueError, "beta must be at least 0, not -0.1"),
        (lambda: NoisyMLP([2, 3], "sigmoid"), ValueError, "activation must be one of"),
        (lambda: NoisyMLP([2], "tanh"), ValueError, "widths must list at least"),
        (lambda: NoisyMLP([2, 0], "tanh"), ValueError, r"widths\[1\] must be at least 1, not 0"),
        (lambda: NoisyMLP([2, 3], noise="gaussian"), ValueError, "noise must be one of"),
        (lambda: NoisyMLP([2, 3], dropout_p=1.0), ValueError, "dropout_p must be less than 1"),
        (lambda: MnistCNN(-1.0), ValueError, "beta must be at least 0, not -1.0"),
        (lambda: NoisyMLP("12", "tanh"), TypeError, "widths must be a sequence"),
    ],
)
def test_bad_settings_raise_clear_errors(build, error, message) -> None:
    with pytest.raises(error, match=message):
        build()


def test_bad_inputs_raise_clear_errors() -> None:
    model = _szt_net()
    with pytest.raises(
        ValueError, match=r"x must have shape \(n, 12\) for input width 12, not \(4, 3\)"
    ):
        model(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="x must not be empty"):
        model(torch.zeros(0, 12))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        model([[0.0] * 12])
    with pytest.raises(ValueError, match=r"x must have shape \(n, 1, 28, 28\)"):
        MnistCNN()(torch.zeros(2, 1, 14, 14))


# -- sampling ---------------------------------------------------------------------------


def test_sampling_shapes_and_first_layer_is_deterministic() -> None:
    model = _szt_net(0.05)
    x = torch.rand(33, 12)
    samples = sample_hidden_layers(model, x, 7, seed=0, chunk_size=5)
    assert [tuple(t.shape) for t in samples.layers] == [(33, 7, d) for d in (10, 7, 5, 4, 3)]
    assert samples.deterministic == [True, False, False, False, False]
    assert samples.widths == [10, 7, 5, 4, 3] and samples.layer_numbers == [1, 2, 3, 4, 5]
    # S_1 = f_1(X) is the same in every replica; later layers vary with the noise.
    first = samples.layers[0]
    assert torch.equal(first, first[:, :1].expand_as(first))
    torch.testing.assert_close(first[:, 0], model.hidden_layers(x, noise=False)[0].clean)
    assert float(samples.layers[1].std(dim=1).min()) > 0
    assert all(t.dtype == torch.float32 for t in samples.layers)


def test_sampling_propagates_noise_as_the_closed_form_says() -> None:
    # Linear two-layer net: S_2 = W_2 (S_1 + Z_1) + b_2, so Cov(S_2 | X) = beta^2 W_2 W_2^T.
    torch.manual_seed(3)
    beta = 0.2
    model = NoisyMLP([2, 3, 2, 1], "linear", beta)
    x = torch.rand(2, 2)
    samples = sample_hidden_layers(model, x, 40000, seed=1, dtype=torch.float64)
    weight = model.layers[1].linear.weight.double()
    expected = beta**2 * weight @ weight.T
    for i in range(2):
        centred = samples.layers[1][i] - samples.layers[1][i].mean(dim=0)
        covariance = centred.T @ centred / (centred.shape[0] - 1)
        torch.testing.assert_close(covariance, expected, rtol=0.05, atol=0.002)
    assert samples.layers[0].dtype == torch.float64


def test_sampling_is_seeded_and_leaves_the_model_and_global_stream_alone() -> None:
    model = NoisyMLP([12, 10, 7, 2], "tanh", 0.1, batch_norm=True)
    model.train()
    x = torch.rand(40, 12)
    before = _snapshot(model)
    global_state = torch.get_rng_state()
    first = sample_hidden_layers(model, x, 3, seed=5)
    second = sample_hidden_layers(model, x, 3, seed=5, dtype=torch.float64)
    again = sample_hidden_layers(model, x, 3, seed=5)
    assert all(torch.equal(a, b) for a, b in zip(first.layers, again.layers, strict=True))
    assert second.layers[1].dtype == torch.float64
    after = _snapshot(model)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats included
    assert model.training
    assert torch.equal(torch.get_rng_state(), global_state)


def test_sampling_the_cnn_leaves_batch_norm_statistics_unchanged() -> None:
    torch.manual_seed(0)
    model = MnistCNN(0.1)
    before = _snapshot(model)
    samples = sample_hidden_layers(model, torch.rand(3, 1, 28, 28), 2, seed=0, layers=[2, 3])
    assert [tuple(t.shape) for t in samples.layers] == [(3, 2, 1568), (3, 2, 128)]
    assert samples.deterministic == [False, False]
    after = _snapshot(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_sampling_a_deterministic_network_marks_every_layer() -> None:
    samples = sample_hidden_layers(_szt_net(0.0), torch.rand(4, 12), 2, seed=0)
    assert samples.deterministic == [True] * 5


def test_sampling_rejects_bad_arguments() -> None:
    model = _szt_net()
    x = torch.rand(4, 12)
    with pytest.raises(ValueError, match="replicas must be at least 1, not 0"):
        sample_hidden_layers(model, x, 0)
    with pytest.raises(ValueError, match=r"layers\[0\] must be at most 5, not 6"):
        sample_hidden_layers(model, x, 2, layers=[6])
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64"):
        sample_hidden_layers(model, x, 2, dtype=torch.float16)
    with pytest.raises(ValueError, match="inputs must hold at least one input"):
        sample_hidden_layers(model, x[:0], 2)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 12\)"):
        sample_hidden_layers(model, torch.rand(4, 5), 2)
    with pytest.raises(TypeError, match="model must be a noisy network"):
        sample_hidden_layers(torch.nn.Linear(2, 2), x, 2)


# -- registry ---------------------------------------------------------------------------


def test_registry_names_and_seeded_builds() -> None:
    assert list(EXAMPLES) == [
        "tanh_neuron", "leaky_relu_neuron", "two_layer_leaky_relu", "szt", "spiral", "mnist_cnn",
    ]  # fmt: skip
    spec = get_example("szt")
    a = spec.build_model("tanh", 0.0, "additive", 0.2, seed=3)
    b = spec.build_model("tanh", 0.1, "dropout", 0.2, seed=3)
    c = spec.build_model("tanh", 0.0, "additive", 0.2, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=True))
    assert spec.input_dim == 12 and spec.supports_sample_propagation
    assert not get_example("mnist_cnn").supports_sample_propagation
    with pytest.raises(ValueError, match="name must be one of"):
        get_example("xor")
    with pytest.raises(ValueError, match="activation must be one of"):
        get_example("mnist_cnn").build_model("relu")
