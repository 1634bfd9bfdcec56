"""The arithmetic behind the lab benchmarks' figures: dependency chains and replica lag."""

from __future__ import annotations

import pytest

from bench.deploy import longest_chain, waits_for
from bench.replica_lag import lags, percentile


def test_longest_chain_follows_dependencies_and_providers() -> None:
    state = [
        {"urn": "u::a", "dependencies": []},
        {"urn": "u::b", "dependencies": ["u::a"]},
        {"urn": "u::provider", "dependencies": ["u::b"]},
        {"urn": "u::patch", "dependencies": [], "provider": "u::provider::0123-id"},
        {"urn": "u::slow", "dependencies": []},
    ]
    durations = {"u::a": 2.0, "u::b": 3.0, "u::provider": 0.5, "u::patch": 1.0, "u::slow": 6.0}
    total, path = longest_chain(durations, waits_for(state))
    assert (total, path) == (6.5, ["u::a", "u::b", "u::provider", "u::patch"])


def test_each_row_lags_until_the_first_poll_that_saw_it() -> None:
    inserted = {1: 10.0, 2: 10.1, 3: 10.2}
    polls = [(0, 10.05), (1, 10.15), (3, 10.4), (3, 10.5)]
    assert lags(polls, inserted) == pytest.approx([0.15, 0.3, 0.2])


def test_a_row_never_seen_is_an_error() -> None:
    with pytest.raises(RuntimeError, match=r"rows 2\.\.2"):
        lags([(1, 10.0)], {1: 9.0, 2: 9.5})


def test_percentile() -> None:
    values = [float(i) for i in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99)) == (50.0, 99.0)
