"""Processing parameters from a TOML file: overrides reach nested parameters, mistakes are named."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from teleop_lake.params_file import ParamsFileError, load_params, params_from_dict
from teleop_lake.processing import ProcessingParams


def test_overrides_reach_nested_parameters_and_the_hash(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text(
        "grid_rate_hz = 30\n"
        "[cleaning]\nspike_threshold = 7.5\nscale_floors = [['position_rad', 1e-6]]\n"
        "[gates]\nlong_fault_policy = 'split'\n[gates.weights]\nfrozen = 1.0\n"
    )
    p = load_params(f)
    assert p.grid_rate_hz == 30.0 and isinstance(p.grid_rate_hz, float)
    assert p.cleaning.spike_threshold == 7.5
    assert p.cleaning.scale_floors == (("position_rad", 1e-6),)
    assert p.cleaning.step_threshold == ProcessingParams().cleaning.step_threshold
    assert p.gates.long_fault_policy == "split" and p.gates.weights.frozen == 1.0
    assert p.param_hash() != ProcessingParams().param_hash()
    assert params_from_dict(asdict(p)) == p


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[cleaning]\nspike_thresold = 3\n", "unknown parameter cleaning.spike_thresold"),
        ("[cleaning]\nspike_threshold = 'high'\n", "cleaning.spike_threshold: expected a number"),
        ("[cleaning]\nmax_spike_samples = 2.5\n", "expected an integer"),
        ("[gates]\nlong_fault_policy = 'trim'\n", "long_fault_policy must be one of"),
        ("cleaning = 3\n", "cleaning: expected a table"),
        ("[cleaning\n", "not valid TOML"),
    ],
)
def test_mistakes_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(ParamsFileError, match=message) as err:
        load_params(f)
    assert str(f) in str(err.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ParamsFileError, match="no such parameters file"):
        load_params(tmp_path / "absent.toml")
