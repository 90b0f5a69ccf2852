"""The command line: options from the configuration, refused values, a real small run."""

import subprocess
import sys

import pandas as pd
import pytest

from app import cli
from app.config import ExperimentConfig
from app.store import RunStore, load_run


def _parameters():
    return [name for name in ExperimentConfig.param if name != "name"]


def _help(*command):
    parser = cli.build_parser()
    sub = parser._subparsers._group_actions[0].choices[command[0]]
    return sub.format_help()


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_help_documents_every_parameter(command):
    text = " ".join(_help(command).split())
    for name in _parameters():
        assert "--" + name.replace("_", "-") in text, name
        first_words = " ".join(ExperimentConfig.param[name].doc.split()[:4])
        assert first_words in text, name


def test_module_help_runs():
    result = subprocess.run(
        [sys.executable, "-m", "app", "run", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert "--learning-rate" in result.stdout and "--bin-size-units" in result.stdout


def test_options_map_to_parameters():
    args = cli.build_parser().parse_args(
        [
            "run", "--example", "spiral", "--learning-rate", "0.001", "--batch-size", "none",
            "--bin-sizes", "1", "2.5", "--quantities", "sp", "binning", "--lr-final", "1e-4",
        ]
    )  # fmt: skip
    config = cli.config_from_args(args)
    assert config.example == "spiral"
    assert config.learning_rate == 0.001
    assert config.batch_size is None
    assert config.bin_sizes == [1.0, 2.5]
    assert config.quantities == ["sp", "binning"]
    assert config.lr_final == 1e-4
    # Everything else keeps the example's defaults.
    assert config.epochs == ExperimentConfig.for_example("spiral").epochs


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--beta", "-0.1"], "beta must be at least 0, not -0.1"),
        (["--epochs", "0"], "epochs must be at least 1, not 0"),
        (["--epochs", "ten"], "epochs must be an integer, not 'ten'"),
        (["--learning-rate", "0"], "learning_rate must be greater than 0, not 0"),
        (["--dropout-p", "1"], "dropout_p must be less than 1, not 1"),
        (["--bin-sizes", "-1"], "bin_sizes must be greater than 0, not -1"),
        (["--example", "resnet"], "invalid choice: 'resnet'"),
        (["--quantities", "magic"], "invalid choice: 'magic'"),
        (["--example", "mnist_cnn", "--quantities", "sp"], "need the SP estimator"),
        (["--beta", "0", "--bin-size-units", "beta"], "must be 'absolute' when beta is 0"),
    ],
)
def test_bad_values_are_refused_with_rule_and_value(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", *argv, "--out", "/nonexistent/never-created"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_small_run_writes_its_folder_prints_a_summary_and_shows_progress(tmp_path, capsys):
    out = tmp_path / "neuron"
    code = cli.main(
        [
            "run", "--example", "tanh_neuron", "--epochs", "60", "--n-queries", "100",
            "--quantities", "sp", "exact",
            "--out", str(out), "--csv",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    assert "60/60" in captured.err and "[" in captured.err  # the progress bar
    assert "I(X;T)" in captured.out and "exact" in captured.out
    assert "train loss" in captured.out
    config, frame = load_run(out)
    assert config.epochs == 60 and frame["epoch"].max() == 60
    assert (out / "metrics.csv").is_file()
    assert RunStore(out).status() == "complete"

    # The summary shows the last epoch's I(X;T) of layer 1.
    last = frame[(frame["epoch"] == 60) & (frame["quantity"] == "i_xt")]["value"].iloc[0]
    assert f"{last:.4f}" in captured.out


def test_resume_of_a_complete_run_adds_nothing(tmp_path, capsys):
    out = tmp_path / "neuron"
    cli.main(["run", "--example", "tanh_neuron", "--epochs", "20", "--quiet", "--out", str(out)])
    before = load_run(out)[1]
    assert cli.main(["run", "--resume", str(out), "--quiet"]) == 0
    assert load_run(out)[1].equals(before)


def test_an_existing_folder_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "neuron"
    cli.main(["run", "--example", "tanh_neuron", "--epochs", "5", "--quiet", "--out", str(out)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--example", "tanh_neuron", "--epochs", "5", "--out", str(out)])
    assert exit_info.value.code == 2
    assert "already holds a run" in capsys.readouterr().err


def test_sweep_options_take_several_values():
    args = cli.build_parser().parse_args(
        ["sweep", "--root", "x", "--beta", "0.01", "0.02", "--seed", "0", "1", "2"]
    )
    assert args.beta == [0.01, 0.02] and args.seed == [0, 1, 2]


def test_sweep_command_builds_the_grid_and_prints_the_aggregate(monkeypatch, tmp_path, capsys):
    from app import sweeps

    seen = {}

    def fake_run_sweep(configs, root, **kwargs):
        seen.update(configs=configs, root=root, **kwargs)
        return pd.DataFrame(
            {
                "beta": [0.05], "activation": ["tanh"], "orthonormal_alpha": [0.0],
                "epoch": [10], "layer": [1], "quantity": ["i_xt"], "split": ["estimation"],
                "bin_size": [float("nan")], "unit": [pd.NA], "mean": [1.2345], "std": [0.0123],
                "n_seeds": [3],
            }
        )  # fmt: skip

    monkeypatch.setattr(sweeps, "run_sweep", fake_run_sweep)
    code = cli.main(
        [
            "sweep", "--example", "tanh_neuron", "--epochs", "10", "--beta", "0.05", "0.1",
            "--n-seeds", "3", "--root", str(tmp_path), "--scheduler", "tcp://127.0.0.1:1",
            "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    configs = seen["configs"]
    assert len(configs) == 6
    assert {(c.beta, c.seed) for c in configs} == {(b, s) for b in (0.05, 0.1) for s in range(3)}
    assert all(c.epochs == 10 and c.example == "tanh_neuron" for c in configs)
    assert seen["scheduler"] == "tcp://127.0.0.1:1"
    out = capsys.readouterr().out
    assert "1.2345" in out and "0.0123" in out and "6 runs" in out
