"""The impact × urgency matrix: every cell, labels as input, monotonicity, bad input."""
import pytest
from hypothesis import given, strategies as st

from kb.triage import DEFAULT_MATRIX, IMPACT_LEVELS, PRIORITIES, URGENCY_LEVELS, priority_for, validate_matrix
from kb.triage.priority import priority_rank

EXPECTED = {
    ("single", "can_wait"): "Low", ("single", "impeded"): "Medium", ("single", "stopped"): "Medium",
    ("several", "can_wait"): "Medium", ("several", "impeded"): "Medium", ("several", "stopped"): "High",
    ("all", "can_wait"): "Medium", ("all", "impeded"): "High", ("all", "stopped"): "High",
}


@pytest.mark.parametrize("cell, priority", sorted(EXPECTED.items()))
def test_every_cell(cell, priority):
    impact, urgency = cell
    got, reason = priority_for(impact, urgency, DEFAULT_MATRIX)
    assert got == priority
    assert IMPACT_LEVELS[impact] in reason and URGENCY_LEVELS[urgency] in reason and reason.endswith(
        f"→ {priority} ({PRIORITIES[priority]})")


def test_labels_are_accepted_as_well_as_keys():
    assert priority_for("whole department / all users / data loss", "Work stopped")[0] == "High"
    assert priority_for("single user", "can wait")[0] == "Low"


def test_unknown_levels_and_broken_matrices_are_rejected():
    with pytest.raises(ValueError, match="unknown impact"):
        priority_for("galaxy", "can wait")
    with pytest.raises(ValueError, match="unknown urgency"):
        priority_for("single", "yesterday")
    broken = {k: dict(v) for k, v in DEFAULT_MATRIX.items()}
    broken["all"]["stopped"] = "Panic"
    with pytest.raises(ValueError):
        validate_matrix(broken)
    with pytest.raises(ValueError):
        priority_for("all", "stopped", broken)
    validate_matrix(DEFAULT_MATRIX)


def test_a_custom_matrix_is_just_data():
    everything_low = {i: {u: "Low" for u in URGENCY_LEVELS} for i in IMPACT_LEVELS}
    assert priority_for("all", "stopped", everything_low)[0] == "Low"


levels_i = st.sampled_from(list(IMPACT_LEVELS))
levels_u = st.sampled_from(list(URGENCY_LEVELS))


@given(levels_i, levels_i, levels_u, levels_u)
def test_raising_impact_or_urgency_never_lowers_priority(i1, i2, u1, u2):
    order_i, order_u = list(IMPACT_LEVELS), list(URGENCY_LEVELS)
    lo_i, hi_i = sorted((i1, i2), key=order_i.index)
    lo_u, hi_u = sorted((u1, u2), key=order_u.index)
    low = priority_rank(priority_for(lo_i, lo_u)[0])
    assert priority_rank(priority_for(hi_i, lo_u)[0]) >= low
    assert priority_rank(priority_for(lo_i, hi_u)[0]) >= low
    assert priority_rank(priority_for(hi_i, hi_u)[0]) >= low
