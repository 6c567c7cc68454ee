"""TrainSettings: one set of DPO defaults, validated with one-line messages."""

from __future__ import annotations

import pytest

from rlhf import TrainSettings
from rlhf.efficiency import quality


def test_defaults_and_replace():
    s = TrainSettings()
    assert (s.epochs, s.beta, s.lr, s.batch_size, s.max_length) == (2, 0.1, 5e-6, 8, 128)
    t = s.replace(epochs=3, lr=1e-5)
    assert (t.epochs, t.lr, t.beta) == (3, 1e-5, 0.1) and s.epochs == 2
    assert "default: 2" in TrainSettings.help("epochs")


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
