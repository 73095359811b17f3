"""FeatureConfig: defaults, validation, immutability."""

from __future__ import annotations

import dataclasses

import pytest

from dearstats.errors import InputError
from dearstats.features import FeatureConfig


def test_defaults_and_helpers():
    c = FeatureConfig()
    assert c.role_sla == {"champion": 30, "decision_maker": 60, "executive_sponsor": 90}
    assert c.max_sla_days == 90
    assert c.activity_columns[-1] == "act_other"
    assert hash(c) == hash(FeatureConfig())  # hashable: stored beside models
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.adoption_window_days = 7  # type: ignore[misc]


def test_mapping_is_normalised_and_replace_validates():
    c = FeatureConfig(role_sla_days={"executive_sponsor": 120, "champion": 14})
    assert c.role_sla_days == (("champion", 14), ("executive_sponsor", 120))
    assert c.replace(adoption_window_days=28).adoption_window_days == 28
    with pytest.raises(InputError, match="no setting"):
        c.replace(window=3)
    assert FeatureConfig(**FeatureConfig().as_dict()) == FeatureConfig()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"adoption_window_days": 0}, "adoption_window_days"),
        ({"roi_window_days": 2.5}, "roi_window_days"),
        ({"adoption_trend_days": 30}, "must exceed"),
        ({"shelfware_threshold": 1.5}, "shelfware_threshold"),
        ({"role_sla_days": {"champion": -1}}, "champion"),
        ({"role_sla_days": 5}, "role_sla_days"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(kwargs, match):
    with pytest.raises(InputError, match=match):
        FeatureConfig(**kwargs)
