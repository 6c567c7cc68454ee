"""TrainSettings: one set of DPO defaults, validated with one-line messages."""

from __future__ import annotations

import pytest

from rlhf import TrainSettings
from rlhf.efficiency import quality


def test_defaults_and_replace():
    s = TrainSettings()
    assert (s.epochs, s.beta, s.lr, s.batch_size, s.max_length) == (2, 0.1, None, 8, 128)
    t = s.replace(epochs=3, lr=1e-5)
    assert (t.epochs, t.lr, t.beta) == (3, 1e-5, 0.1) and s.epochs == 2
    assert "default: 2" in TrainSettings.help("epochs")


def test_learning_rate_defaults_to_the_modes_validated_rate():
    from rlhf.settings import FAST_LR, FULL_LR

    assert TrainSettings().learning_rate == FULL_LR == 5e-6
    fast = TrainSettings(train_layers=2)
    assert fast.lr is None and fast.learning_rate == FAST_LR == 1e-4
    # an explicit rate wins in either mode
    assert TrainSettings(train_layers=2, lr=5e-6).learning_rate == 5e-6
    # a default set before the mode changes does not stick: replace keeps lr None
    assert TrainSettings().replace(train_layers=2).learning_rate == FAST_LR
    # what a stored run's key records spells the rate out
    assert fast.resolved().lr == FAST_LR and TrainSettings().resolved().lr == FULL_LR
    assert "5e-06 with every parameter, 0.0001 in the fast mode" in TrainSettings.help("lr")


def test_an_efficiency_grid_key_spells_out_the_learning_rate():
    from simulator import MarketConfig
    from simulator.experiments.efficiency import efficiency_design

    design = efficiency_design(MarketConfig(), mechanism_names=["vickrey"], budgets=[25],
                               seeds=1, trainer="dpo", train_layers=2)  # fmt: skip
    assert design.run_params["lr"] == 1e-4 and design.run_params["train_layers"] == 2


@pytest.mark.parametrize(
    "field, value",
    [("epochs", 0), ("epochs", 1.5), ("batch_size", True), ("beta", 0.0), ("lr", float("nan")),
     ("max_length", -3), ("model_name", "")],
)  # fmt: skip
def test_bad_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=rf"TrainSettings\.{field} must"):
        TrainSettings(**{field: value})


def test_unknown_override_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match=r"unknown training setting.*epochs"):
        TrainSettings().replace(epoch=3)
    import pandas as pd

    with pytest.raises(ValueError, match="unknown training setting"):
        quality("proxy", pd.DataFrame(), pd.DataFrame(), learning_rate=1e-3)


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "CPU", "", 0, None])
def test_a_device_that_is_not_cpu_or_cuda_is_refused(device):
    with pytest.raises(ValueError, match=r"TrainSettings\.device must be cpu, cuda or cuda:N"):
        TrainSettings(device=device)
    assert TrainSettings(device="cuda:1").device == "cuda:1"


@pytest.mark.parametrize("layers", [-1, 1.5, True, "2"])
def test_train_layers_must_be_a_count(layers):
    with pytest.raises(ValueError, match="train_layers"):
        TrainSettings(train_layers=layers)
