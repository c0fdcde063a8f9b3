"""RMSE, MAE, MARD against hand-computed cases; Clarke error grid zones at points placed in each
zone of Clarke et al., Diabetes Care 10(5):622-628, 1987 (Fig. 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainlab.tasks.forecasting.metrics import clarke_zones, headline, horizon_metrics, metric_table, point_metrics


def test_rmse_mae_mard_by_hand():
    predicted = np.array([[100.0, 110.0], [120.0, 90.0], [80.0, 500.0]])
    truth = np.array([[110.0, 100.0], [100.0, 100.0], [80.0, 100.0]])
    mask = np.array([[True, True], [True, True], [True, False]])  # the 500 is masked out
    scores = horizon_metrics(predicted, truth, mask)
    # Step 1: errors -10, +20, 0 against 110, 100, 80.
    assert scores["step_1"]["rmse"] == pytest.approx(math.sqrt((100 + 400 + 0) / 3))
    assert scores["step_1"]["mae"] == pytest.approx(10.0)
    assert scores["step_1"]["mard"] == pytest.approx(100 * (10 / 110 + 20 / 100 + 0) / 3)
    # Step 2: errors +10, -10 against 100, 100 (the third is masked).
    assert scores["step_2"]["rmse"] == pytest.approx(10.0) and scores["step_2"]["n"] == 2
    assert scores["step_2"]["mard"] == pytest.approx(10.0)
    assert scores["all"]["n"] == 5
    assert scores["all"]["rmse"] == pytest.approx(math.sqrt((100 + 400 + 0 + 100 + 100) / 5))
    assert scores["all"]["mae"] == pytest.approx((10 + 20 + 0 + 10 + 10) / 5)


# (reference, prediction) -> zone, placed by the 1987 boundaries.
POINTS = [
    ((100, 100), "A"), ((100, 119), "A"), ((100, 81), "A"), ((60, 65), "A"), ((50, 30), "A"), ((300, 250), "A"),
    ((100, 125), "B"), ((100, 75), "B"), ((250, 190), "B"), ((300, 200), "B"), ((150, 100), "B"),
    ((100, 215), "C"), ((150, 25), "C"), ((170, 50), "C"),
    ((300, 100), "D"), ((250, 160), "D"), ((50, 100), "D"), ((65, 90), "D"),
    ((200, 50), "E"), ((300, 60), "E"), ((60, 200), "E"), ((40, 300), "E"),
]


@pytest.mark.parametrize(("point", "zone"), POINTS)
def test_clarke_zone_at_a_known_point(point, zone):
    assert clarke_zones(np.array([point[0]]), np.array([point[1]]))[0] == zone


def test_clarke_boundaries_are_where_the_paper_puts_them():
    # 20 % band: A inside, B just outside, at a reference of 150.
    assert list(clarke_zones(np.full(4, 150.0), np.array([120.0, 180.0, 119.0, 181.0]))) == ["A", "A", "B", "B"]
    # Upper C line p = r + 110 at r = 100.
    assert list(clarke_zones(np.full(2, 100.0), np.array([209.0, 210.0]))) == ["B", "C"]
    # D above r >= 240 for 70 <= p <= 180; below 70 it is E at r >= 180.
    assert list(clarke_zones(np.full(3, 260.0), np.array([181.0, 180.0, 69.0]))) == ["B", "D", "E"]
    shares = point_metrics(np.array([100, 125, 215, 300.0]), np.array([100, 100, 100, 100.0]))
    assert shares["clarke_a"] == 25.0 and shares["clarke_b"] == 25.0 and shares["clarke_ab"] == 50.0


def test_the_table_has_every_model_subject_and_step_on_the_same_windows():
    rng = np.random.default_rng(0)
    truth = rng.uniform(60, 250, (40, 12))
    mask = rng.random((40, 12)) > 0.1
    subjects = np.repeat([3, 9], 20)
    forecasts = {"model": truth + rng.normal(0, 10, truth.shape), "persistence": np.repeat(truth[:, :1], 12, axis=1)}
    table = metric_table(forecasts, truth, mask, subjects, cadence=5)
    assert set(table["model"]) == {"model", "persistence"}
    assert set(table["subject"]) == {"all", 3, 9}
    assert len(table) == 2 * 3 * 13
    row = table[(table["model"] == "model") & (table["subject"] == 9) & (table["step"] == 6)].iloc[0]
    expected = point_metrics(forecasts["model"][20:, 5][mask[20:, 5]], truth[20:, 5][mask[20:, 5]])
    assert row["minutes"] == 30 and row["rmse"] == pytest.approx(expected["rmse"]) and row["n"] == expected["n"]
    figures = headline(table)
    assert figures["model"]["rmse_60"] == pytest.approx(
        point_metrics(forecasts["model"][:, 11][mask[:, 11]], truth[:, 11][mask[:, 11]])["rmse"])
