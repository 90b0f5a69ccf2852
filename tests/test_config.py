"""ExperimentConfig: example defaults, exact JSON round trip, refused combinations."""

import json
import math

import pytest

from app.config import EXAMPLE_NAMES, SP_QUANTITIES, ExperimentConfig
from models import get_example


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_has_valid_defaults_from_models(name):
    config = ExperimentConfig.for_example(name)
    spec = get_example(name)
    assert config.validate() is config
    assert config.example == name
    assert config.learning_rate == spec.learning_rate
    assert config.optimizer == spec.optimizer
    assert config.batch_size == spec.batch_size
    assert config.epochs == spec.epochs
    assert config.beta == spec.default_beta
    assert config.noise == spec.default_noise


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_json_round_trip_is_exact(name):
    config = ExperimentConfig.for_example(name, bin_sizes=[0.1 + 0.2, 1e-300, 10.0])
    text = config.to_json()
    again = ExperimentConfig.from_json(text)
    assert again == config
    assert again.to_json() == text
    assert again.bin_sizes[0] == 0.1 + 0.2  # the last bit survives
    assert ExperimentConfig.from_json(json.loads(text)) == config


def test_none_values_round_trip():
    config = ExperimentConfig.for_example("szt", lr_final=None, batch_size=None, threads=None)
    again = ExperimentConfig.from_json(config.to_json())
    assert again.lr_final is None and again.batch_size is None and again.threads is None


def test_szt_defaults_are_the_papers():
    config = ExperimentConfig.for_example("szt")
    assert (config.optimizer, config.learning_rate, config.batch_size) == ("adam", 4e-4, 256)
    assert config.beta == 0.005
    assert config.absolute_bin_sizes() == pytest.approx([10 * 0.005])  # B = 10 beta


def test_overrides_win_and_unknown_names_are_refused():
    config = ExperimentConfig.for_example("szt", epochs=123, replicas=7)
    assert (config.epochs, config.replicas) == (123, 7)
    with pytest.raises(ValueError, match="unknown configuration parameter 'learnig_rate'"):
        ExperimentConfig.for_example("szt", learnig_rate=0.1)
    with pytest.raises(ValueError, match="example must be one of"):
        ExperimentConfig.for_example("resnet")


def test_from_json_refuses_bad_text():
    with pytest.raises(ValueError, match="not valid JSON"):
        ExperimentConfig.from_json("{beta: 1")
    with pytest.raises(ValueError, match="unknown configuration parameter 'colour'"):
        ExperimentConfig.from_json('{"colour": "red"}')
    with pytest.raises(ValueError, match="config_version must be at most 1, not 9"):
        ExperimentConfig.from_json('{"config_version": 9}')


def test_bounds_are_enforced_with_rule_and_value():
    with pytest.raises(ValueError, match="beta.*must be at least 0.*not -0.1"):
        ExperimentConfig(beta=-0.1)
    with pytest.raises(ValueError, match="epochs.*must be at least 1.*not 0"):
        ExperimentConfig(epochs=0)
    with pytest.raises(ValueError, match="learning_rate.*greater than 0"):
        ExperimentConfig(learning_rate=0.0)
    with pytest.raises(ValueError, match="does not accept 'magic'"):
        ExperimentConfig(quantities=["sp", "magic"])


def test_every_parameter_is_documented():
    for name in ExperimentConfig.param:
        if name == "name":
            continue
        assert len(ExperimentConfig.param[name].doc or "") > 20, name


def test_deterministic_network_gets_absolute_bins_and_no_sp():
    config = ExperimentConfig.for_example("szt", beta=0.0)
    assert config.bin_size_units == "absolute"
    assert not set(config.quantities) & set(SP_QUANTITIES)
    assert "binning" in config.quantities and "geometry" in config.quantities
    available, reason = config.sp_status()
    assert not available and "deterministic" in reason


def test_bins_in_units_of_a_zero_beta_are_refused():
    config = ExperimentConfig.for_example("szt", beta=0.0, bin_size_units="beta")
    with pytest.raises(ValueError, match="bin_size_units must be 'absolute' when beta is 0"):
        config.validate()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"example": "mnist_cnn"}, "MNIST CNN"),
        ({"example": "szt", "noise": "dropout"}, "dropout"),
        ({"example": "szt", "beta": 0.0, "bin_size_units": "absolute"}, "deterministic"),
    ],
)
def test_sp_is_refused_where_it_does_not_apply(overrides, reason):
    example = overrides.pop("example")
    config = ExperimentConfig.for_example(example, **overrides)
    assert config.sp_status() == (False, config.sp_status()[1])
    assert reason in config.sp_status()[1]
    assert "sp" not in config.quantities  # dropped automatically
    config.quantities = ["sp", "binning"]
    with pytest.raises(ValueError, match="quantities sp need the SP estimator"):
        config.validate()


def test_sp_available_for_additive_noise():
    assert ExperimentConfig.for_example("spiral").sp_status()[0]


def test_other_refused_combinations():
    with pytest.raises(ValueError, match="'exact' is only available for the 1-D toys"):
        ExperimentConfig.for_example("szt", quantities=["exact"]).validate()
    with pytest.raises(ValueError, match="activation must be one of tanh for example"):
        ExperimentConfig.for_example("tanh_neuron", activation="relu").validate()
    with pytest.raises(ValueError, match="noise must be one of additive for example"):
        ExperimentConfig.for_example(
            "tanh_neuron", noise="dropout", quantities=["binning"]
        ).validate()
    with pytest.raises(ValueError, match="batch_size must be None .* 'gd', not 8"):
        ExperimentConfig.for_example("tanh_neuron", batch_size=8).validate()
    with pytest.raises(ValueError, match="bin_sizes must be finite and greater than 0"):
        ExperimentConfig.for_example("szt", bin_sizes=[1.0, -2.0]).validate()
    with pytest.raises(ValueError, match="bin_sizes must be finite"):
        ExperimentConfig.for_example("szt", bin_sizes=[math.inf]).validate()


def test_copy_is_independent():
    config = ExperimentConfig.for_example("szt")
    other = config.copy()
    other.quantities = ["binning"]
    other.bin_sizes.append(3.0)
    assert config.quantities != other.quantities
    assert 3.0 not in config.bin_sizes
