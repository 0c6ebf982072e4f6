"""Trials of a study for a local sweep."""

from __future__ import annotations

import math

from ddsp_launch.cloud.study import parse

SPEC = {
    "metrics": [{"metricId": "Loss", "goal": "MINIMIZE"}],
    "parameters": [
        {"parameterId": "learning_rate", "doubleValueSpec": {"minValue": 1e-5, "maxValue": 1e-1}, "scaleType": "UNIT_LOG_SCALE"},
        {"parameterId": "batch_size", "integerValueSpec": {"minValue": "2", "maxValue": "4"}},
    ],
}


def test_random_search_is_reproducible_and_in_range():
    study = parse(SPEC)
    a, b = study.trials(200, seed=7), study.trials(200, seed=7)
    assert a == b and a != study.trials(200, seed=8)
    rates = [t["learning_rate"] for t in a]
    assert all(1e-5 <= r <= 1e-1 for r in rates)
    assert {t["batch_size"] for t in a} == {2, 3, 4}
    # log scale: about as many draws per decade
    decades = [math.floor(math.log10(r)) for r in rates]
    assert all(decades.count(d) > 25 for d in (-5, -4, -3, -2))


def test_grid_search_enumerates_in_order():
    spec = {**SPEC, "algorithm": "GRID_SEARCH", "parameters": [
        {"parameterId": "learning_rate", "discreteValueSpec": {"values": [1e-4, 1e-3]}},
        {"parameterId": "batch_size", "integerValueSpec": {"minValue": "2", "maxValue": "3"}},
    ]}
    assert parse(spec).trials(10) == [
        {"learning_rate": 1e-4, "batch_size": 2}, {"learning_rate": 1e-4, "batch_size": 3},
        {"learning_rate": 1e-3, "batch_size": 2}, {"learning_rate": 1e-3, "batch_size": 3},
    ]


def test_goal():
    assert parse(SPEC).better(1.0, 2.0)
    assert not parse({**SPEC, "metrics": [{"metricId": "Loss", "goal": "MAXIMIZE"}]}).better(1.0, 2.0)
