"""Driver importance: the Shapley R² formula against brute force, the exit outcome, and the ground truth."""

import datetime as dt
import itertools
import math

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm

from analysis import drivers
from analysis.synth import SynthConfig
from synthetic_canonical import canonical_org

D = dt.date


def correlated(n: int, p: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(n, 1))
    return 0.8 * common + rng.normal(size=(n, p))


def brute_force_shapley(fit_r2, p: int) -> np.ndarray:
    """Average each predictor's extra R² over all p! orders of entry (the definition, no weights)."""
    r2 = {(): 0.0}
    for k in range(1, p + 1):
        for subset in itertools.combinations(range(p), k):
            r2[subset] = fit_r2(list(subset))
    phi = np.zeros(p)
    for order in itertools.permutations(range(p)):
        entered: list[int] = []
        for j in order:
            before = tuple(sorted(entered))
            entered.append(j)
            phi[j] += r2[tuple(sorted(entered))] - r2[before]
    return phi / math.factorial(p)


def test_ols_shapley_matches_brute_force_over_all_720_orders():
    x = correlated(300, 6, seed=1)
    y = x @ np.array([0.6, 0.3, 0.3, 0.1, 0.05, 0.0]) + np.random.default_rng(2).normal(size=300)
    expected = brute_force_shapley(lambda cols: sm.OLS(y, sm.add_constant(x[:, cols])).fit().rsquared, 6)
    got = drivers.shapley_r2(drivers.linear_r2_by_subset(x, y), 6)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    full = sm.OLS(y, sm.add_constant(x)).fit().rsquared
    assert got.sum() == pytest.approx(full, rel=1e-12)  # efficiency: the shares add up to R²


def test_mcfadden_shapley_matches_brute_force_with_statsmodels_logit():
    x = correlated(400, 6, seed=3)
    eta = -1.0 + x @ np.array([-0.7, -0.3, -0.3, -0.1, 0.0, 0.0])
    y = (np.random.default_rng(4).random(400) < 1 / (1 + np.exp(-eta))).astype(float)

    def prsquared(cols):
        return sm.Logit(y, sm.add_constant(x[:, cols])).fit(disp=0, method="newton", tol=1e-12).prsquared

    expected = brute_force_shapley(prsquared, 6)
    got = drivers.shapley_r2(drivers.mcfadden_r2_by_subset(x, y), 6)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_two_predictors_closed_form():
    # LMG with two predictors: phi_1 = (r_1² + R²_12 - r_2²) / 2 (Lindeman, Merenda & Gold 1980)
    x = correlated(200, 2, seed=5)
    y = x[:, 0] + 0.5 * x[:, 1] + np.random.default_rng(6).normal(size=200)
    r1 = np.corrcoef(x[:, 0], y)[0, 1] ** 2
    r2 = np.corrcoef(x[:, 1], y)[0, 1] ** 2
    r12 = sm.OLS(y, sm.add_constant(x)).fit().rsquared
    phi = drivers.shapley_r2(drivers.linear_r2_by_subset(x, y), 2)
    assert phi == pytest.approx([(r1 + r12 - r2) / 2, (r2 + r12 - r1) / 2], rel=1e-12)


def test_frequency_weights_equal_repeated_rows():
    x = correlated(60, 3, seed=7)
    y = (x[:, 0] + np.random.default_rng(8).normal(size=60) > 0).astype(float)
    weights = np.random.default_rng(9).integers(0, 4, 60)
    repeated = np.repeat(np.arange(60), weights)
    for subsets in (drivers.linear_r2_by_subset, drivers.mcfadden_r2_by_subset):
        np.testing.assert_allclose(subsets(x, y, weights.astype(float)), subsets(x[repeated], y[repeated]), rtol=1e-8, atol=1e-12)


def test_bootstrap_is_reproducible_and_its_ranks_are_consistent():
    x = correlated(150, 6, seed=10)
    y = x @ np.array([1.0, 0.5, 0.2, 0.1, 0.0, 0.0]) + np.random.default_rng(11).normal(size=150)
    people = np.repeat(np.arange(50), 3)  # three responses per person travel together
    a = drivers.importance(x, y, people, r2="ols", reps=60, seed=1)
    b = drivers.importance(x, y, people, r2="ols", reps=60, seed=1)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert a["people"] == 50
    assert sorted(a["rank"].tolist()) == [1, 2, 3, 4, 5, 6] and a["rank"][0] == 1
    assert a["p_top"].sum() == pytest.approx(1.0)
    assert np.all((1 <= a["rank_low"]) & (a["rank_low"] <= a["rank_high"]) & (a["rank_high"] <= 6))
    assert np.all(a["share_low"] <= a["share_high"])
    assert a["rank_high"][0] <= 2 and a["rank_low"][5] >= 4  # the strong and the null predictor stay apart
    assert a["share"].sum() == pytest.approx(1.0)


# ---------------------------------------------------------------- the exit outcome


def test_exit_outcome_window_competing_exits_and_follow_up():
    scores = pl.LazyFrame(
        {
            "response_id": ["r1", "r2", "r3", "r4", "r5", "r6"],
            "employee_key": ["a", "b", "c", "d", "e", "f"],
            "response_date": [D(2024, 2, 15)] * 5 + [D(2025, 12, 1)],
        }
    )
    employees = pl.LazyFrame(
        {
            "employee_key": ["a", "b", "c", "d", "e", "e", "f"],
            "hire_date": [D(2020, 1, 1)] * 5 + [D(2024, 6, 1), D(2020, 1, 1)],
            "exit_date": [D(2025, 2, 13), D(2025, 2, 14), D(2024, 5, 1), None, D(2024, 3, 1), None, None],
            "exit_type": ["voluntary", "voluntary", "involuntary", None, "voluntary", None, None],
        }
    )
    out = drivers.exit_outcomes(scores, employees, horizon_days=365, data_end=D(2026, 9, 30)).collect()
    got = dict(zip(out["response_id"], out[drivers.EXIT], strict=True))
    # a: quit on day 365 of the window (2024-02-15 + 364 days); b: one day later; c: dismissed (0);
    # d: still employed; e: quit, then rehired (the covering spell is the first); f: window not over yet.
    assert got == {"r1": 1.0, "r2": 0.0, "r3": 0.0, "r4": 0.0, "r5": 1.0}


def _config(reps: int = 40, waves: str = "all", exit_r2: str = "mcfadden", min_n: int = 5, max_people: int | None = None) -> dict:
    return {
        "privacy": {"min_group_size": min_n},
        "period": {"start": "2023Q4", "end": "2026Q3"},
        "retention": {"horizon_days": 365},
        "drivers": {"waves": waves, "exit_r2": exit_r2, "bootstrap_reps": reps, "seed": 20261122, "max_people": max_people},
    }


@pytest.fixture(scope="module")
def orgs(tmp_path_factory):
    """Three demo-sized synthetic organisations (seeds 1-3), canonical tables."""
    return {seed: canonical_org(tmp_path_factory.mktemp(f"org{seed}"), SynthConfig(seed=seed)) for seed in (1, 2, 3)}


def _table(org, **settings):
    return drivers.driver_importance_table(org["survey_responses"].lazy(), org["survey_items"].lazy(), org["employees"].lazy(), _config(**settings))


@pytest.fixture(scope="module")
def ranked(orgs):
    return {seed: _table(org, reps=100) for seed, org in orgs.items()}


def test_table_shape_and_definitions(ranked):
    table = ranked[1]
    assert table.columns == drivers.COLUMNS
    assert table.height == 12 and table["suppressed"].null_count() == 12
    for outcome in (drivers.INTENT, drivers.EXIT):
        part = table.filter(pl.col("outcome") == outcome)
        assert sorted(part["rank"].to_list()) == [1, 2, 3, 4, 5, 6]
        assert part["share"].sum() == pytest.approx(1.0)
        assert part["r2_part"].sum() == pytest.approx(part["r2_total"][0])
        assert part["p_top"].sum() == pytest.approx(1.0)
        assert part["people"][0] <= part["n"][0]
    exits = table.filter(pl.col("outcome") == drivers.EXIT)
    assert exits["r2_kind"][0] == "mcfadden" and 0.1 < exits["events"][0] / exits["n"][0] < 0.5
    assert exits["last_wave"][0] <= D(2025, 9, 30)  # only waves whose 12-month follow-up is complete
    assert table.filter(pl.col("outcome") == drivers.INTENT)["last_wave"][0] == D(2026, 7, 1)


def test_intent_ranking_recovers_the_truth(ranked):
    # True hazard ratios per point: mission 0.70, worklife 0.80, manager 0.80, recognition 0.85,
    # growth 0.95, autonomy 0.97; intent to stay is built from the same linear predictor.
    # Over 30 other seeds (100-129) of the demo-sized organisation, mission ranked first in 29 and
    # growth and autonomy 5th and 6th in all 30 (seed 1 here puts autonomy 4th: one rank is noisy,
    # the mean over seeds much less). Mean shares: mission .31, worklife .20, manager .20,
    # recognition .15, growth .07, autonomy .07.
    shares = []
    for seed, table in ranked.items():
        intent = table.filter(pl.col("outcome") == drivers.INTENT)
        rank = dict(intent.select("driver", "rank").iter_rows())
        assert rank["mission"] == 1, seed
        assert rank["growth"] >= 4 and rank["autonomy"] >= 4, seed
        shares.append(dict(intent.select("driver", "share").iter_rows()))
    mean = {d: np.mean([s[d] for s in shares]) for d in drivers.DRIVERS}
    assert sorted(mean, key=mean.get)[:2] in (["growth", "autonomy"], ["autonomy", "growth"])


def test_exit_ranking_puts_mission_near_the_top_and_growth_autonomy_low(ranked):
    # Exits are a noisy 0/1 outcome on ~600 people: over 30 other seeds (100-129) mission ranked
    # first in 16, in the top three in 28; its bootstrap rank interval reached 1 in 28; growth's
    # and autonomy's both reached 5 or 6 in 29. Averaged over seeds, the shares follow the true
    # order (mission .28, worklife .21, manager .19, recognition .15, autonomy .09, growth .08).
    shares = []
    for seed, table in ranked.items():
        exits = table.filter(pl.col("outcome") == drivers.EXIT)
        row = {r["driver"]: r for r in exits.iter_rows(named=True)}
        assert row["mission"]["rank_low"] == 1, seed
        assert row["growth"]["rank_high"] >= 5 and row["autonomy"]["rank_high"] >= 5, seed
        shares.append({d: r["share"] for d, r in row.items()})
    mean = {d: np.mean([s[d] for s in shares]) for d in drivers.DRIVERS}
    assert mean["mission"] > max(mean["growth"], mean["autonomy"]) * 2
    assert sorted(mean, key=mean.get)[:2] in (["growth", "autonomy"], ["autonomy", "growth"])


def test_ols_and_latest_wave_variants(orgs):
    org = orgs[1]
    ols = _table(org, reps=5, exit_r2="ols").filter(pl.col("outcome") == drivers.EXIT)
    assert ols["r2_kind"][0] == "ols" and ols["suppressed"].null_count() == 6
    latest = _table(org, reps=5, waves="latest")
    intent = latest.filter(pl.col("outcome") == drivers.INTENT)
    exits = latest.filter(pl.col("outcome") == drivers.EXIT)
    assert intent["first_wave"][0] == intent["last_wave"][0] == D(2026, 7, 1)
    assert exits["first_wave"][0] == exits["last_wave"][0] == D(2025, 7, 1)


def test_anonymous_survey_ranks_intent_but_not_exits(orgs):
    org = orgs[1]
    anonymous = org["survey_responses"].with_columns(pl.lit(None, pl.String).alias("employee_key"))
    table = drivers.driver_importance_table(anonymous.lazy(), org["survey_items"].lazy(), org["employees"].lazy(), _config(reps=5))
    assert table.filter(pl.col("outcome") == drivers.INTENT)["suppressed"].null_count() == 6
    exits = table.filter(pl.col("outcome") == drivers.EXIT)
    assert exits["suppressed"].to_list() == [drivers.NOT_ENOUGH] * 6 and exits["share"].null_count() == 6


def test_too_few_people_are_hidden(orgs):
    org = orgs[1]
    few = org["survey_responses"].filter(pl.col("employee_key").is_in(org["survey_responses"]["employee_key"].unique().sort().head(4).implode()))
    table = drivers.driver_importance_table(few.lazy(), org["survey_items"].lazy(), org["employees"].lazy(), _config(reps=5))
    assert table["share"].null_count() == 12 and table["people"].null_count() == 12
    assert table["suppressed"].null_count() == 0


def test_warm_started_bootstrap_gives_the_cold_start_result():
    rng = np.random.default_rng(5)
    x = correlated(600, 6, 5)
    y = (rng.random(600) < 1 / (1 + np.exp(-(x @ np.array([0.6, 0.3, 0.2, 0.1, 0.0, 0.0]) - 1)))).astype(float)
    people = np.repeat(np.arange(300), 2)
    warm = drivers.importance(x, y, people, r2="mcfadden", reps=8, seed=3)
    # the same bootstrap with every fit started from the null model, as before warm starts
    W, index = drivers.shapley_matrix(6), np.unique(people, return_inverse=True)[1]
    rng = np.random.default_rng(3)
    cold = []
    for _ in range(8):
        w = np.bincount(rng.integers(0, 300, 300), minlength=300)[index].astype(float)
        keep = w > 0
        cold.append(drivers.mcfadden_r2_by_subset(x[keep], y[keep], w[keep]) @ W)
    cold = np.array(cold)
    share = cold / cold.sum(axis=1, keepdims=True)
    assert np.allclose(warm["share_low"], np.nanquantile(share, 0.025, axis=0), rtol=0, atol=1e-9)
    assert np.allclose(warm["share_high"], np.nanquantile(share, 0.975, axis=0), rtol=0, atol=1e-9)
    assert warm["r2_total_low"] == pytest.approx(float(np.quantile(cold.sum(axis=1), 0.025)), abs=1e-12)


def test_people_sample_caps_the_ranking_and_leaves_it_alone_below_the_cap(orgs, ranked):
    org = orgs[1]
    full = ranked[1]
    intent = full.filter(pl.col("outcome") == drivers.INTENT)
    assert (intent["people"] == intent["eligible_people"]).all()  # no cap in _config: everyone
    people = int(intent["people"][0])
    at_cap = _table(org, reps=100, max_people=people + 1)
    assert at_cap.filter(pl.col("outcome") == drivers.INTENT).equals(intent)
    capped = _table(org, reps=20, max_people=300)
    assert capped.equals(_table(org, reps=20, max_people=300))  # deterministic
    for outcome in (drivers.INTENT, drivers.EXIT):
        part = capped.filter(pl.col("outcome") == outcome)
        before = full.filter(pl.col("outcome") == outcome)
        assert part["people"].unique().to_list() == [300] and part["eligible_people"][0] == before["people"][0]
        assert part["n"][0] < before["n"][0]
        assert part["share"].sum() == pytest.approx(1.0)
    wide = capped.filter(pl.col("outcome") == drivers.INTENT).sort("driver")
    narrow = intent.sort("driver")
    assert ((wide["share_high"] - wide["share_low"]).mean()) > ((narrow["share_high"] - narrow["share_low"]).mean())  # fewer people, wider intervals


def test_subset_cells_give_back_every_row_and_weights_sum_onto_them():
    rng = np.random.default_rng(12)
    x = rng.integers(1, 6, size=(300, 4)) / rng.choice([1.0, 2.0, 4.0], size=4)  # few distinct values, as Likert means
    y = (rng.random(300) < 0.3).astype(float)
    cells = drivers.subset_cells(x, y)
    assert sorted(cells) == list(range(1, 16))
    for mask, (row_cell, design, cell_y) in cells.items():
        cols = [j for j in range(4) if mask >> j & 1]
        np.testing.assert_array_equal(design[0], 1.0)
        np.testing.assert_array_equal(design[1:, row_cell].T, x[:, cols])  # each row's cell holds its values
        np.testing.assert_array_equal(cell_y[row_cell], y)
        assert len(np.unique(np.column_stack([x[:, cols], y]), axis=0)) == len(cell_y)  # one cell per distinct row
    # a resample's zero weights leave its rows out: the R² of a frequency-weighted fit of the drawn rows
    w = rng.integers(0, 3, 300).astype(float)
    keep = w > 0
    r2 = drivers.mcfadden_r2_by_subset(x, y, w, cells=cells)
    np.testing.assert_allclose(r2, drivers.mcfadden_r2_by_subset(x[keep], y[keep], w[keep]), rtol=0, atol=1e-12)
    for mask, cols in ((3, [0, 1]), (15, [0, 1, 2, 3])):
        glm = sm.GLM(y[keep], sm.add_constant(x[keep][:, cols]), family=sm.families.Binomial(), freq_weights=w[keep]).fit(tol=1e-12)
        assert r2[mask] == pytest.approx(1 - glm.llf / glm.llnull, rel=1e-8)
    with pytest.raises(ValueError, match="0 or 1"):
        drivers.mcfadden_r2_by_subset(x, 2 * y)


def test_subset_cells_of_continuous_columns_too_many_values_for_one_key():
    # 2 x 2500^6 possible cells do not fit an int64 key: the distinct rows are found directly
    rng = np.random.default_rng(13)
    x = correlated(2500, 6, seed=14)
    y = (rng.random(2500) < 1 / (1 + np.exp(-(x @ np.array([0.5, 0.3, 0.0, 0.0, 0.2, 0.1]) - 1)))).astype(float)
    cells = drivers.subset_cells(x, y)
    for mask in (1, 15, 63):
        row_cell, design, cell_y = cells[mask]
        cols = [j for j in range(6) if mask >> j & 1]
        np.testing.assert_array_equal(design[1:, row_cell].T, x[:, cols])
        np.testing.assert_array_equal(cell_y[row_cell], y)
    expected = sm.Logit(y, sm.add_constant(x)).fit(disp=0, method="newton", tol=1e-12).prsquared
    assert drivers.mcfadden_r2_by_subset(x, y, cells=cells)[63] == pytest.approx(expected, rel=1e-9)
