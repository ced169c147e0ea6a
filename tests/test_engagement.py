"""Engagement definitions on hand-built answers."""

import datetime as dt

import polars as pl
import pytest

from analysis.engagement import driver_codes, engagement_change_table, engagement_table, enps_table, reliability_table, response_rate_table, wilson

ITEMS = pl.LazyFrame(
    {"item_id": ["M1", "M2", "N"], "driver": ["mission", "mission", "enps"], "scale": ["likert5", "likert5", "nps11"], "reverse_scored": [False, False, False]}
)


def responses(scores_by_person, nps, team="A"):
    rows = []
    for i, (m1, m2) in enumerate(scores_by_person):
        for item, v in (("M1", m1), ("M2", m2), ("N", nps[i])):
            rows.append((f"{team}-r{i}", f"k{team}{i}", team, dt.date(2024, 5, 15), dt.date(2024, 4, 1), "2024Q2", item, v, v))
    return rows


def frame(rows):
    return pl.LazyFrame(
        rows,
        schema={"response_id": pl.String, "employee_key": pl.String, "team": pl.String, "response_date": pl.Date, "wave": pl.Date, "quarter": pl.String, "item_id": pl.String, "value": pl.Int8, "score": pl.Int8},
        orient="row",
    )


def employees(teams):
    rows = [(f"k{t}{i}", dt.date(2020, 1, 1), None, "S", t) for t, n in teams.items() for i in range(n)]
    return pl.LazyFrame(rows, schema={"employee_key": pl.String, "hire_date": pl.Date, "exit_date": pl.Date, "site": pl.String, "team": pl.String}, orient="row")


SCORES = [(5, 4), (4, 4), (2, 3), (1, 2), (5, 5), (3, 4)]
NPS = [10, 9, 6, 0, 8, 9]


def test_mean_and_pct_favourable_by_hand():
    table = engagement_table(frame(responses(SCORES, NPS)), ITEMS, employees({"A": 8}), favourable_min=4, min_group_size=5)
    row = table.filter((pl.col("level") == "team") & (pl.col("driver") == "mission")).row(0, named=True)
    assert row["respondents"] == 6
    assert row["pct_favourable"] == pytest.approx(7 / 12)  # 5,4,4,4,5,5,4 favourable of 12 answers
    person_means = [4.5, 4.0, 2.5, 1.5, 5.0, 3.5]
    assert row["mean"] == pytest.approx(sum(person_means) / 6)
    assert row["mean_low"] < row["mean"] < row["mean_high"]
    assert row["pct_favourable_low"] < 7 / 12 < row["pct_favourable_high"]


def test_drivers_by_code_and_answers_outside_the_catalogue():
    items = pl.LazyFrame(
        {"item_id": ["W1", "M1", "M2", "N"], "driver": ["worklife", "mission", "mission", "enps"], "scale": ["likert5", "likert5", "likert5", "nps11"], "reverse_scored": [False] * 4}
    )
    code, name = driver_codes(items)
    coded = pl.DataFrame({"item_id": ["M2", "W1", "N", "X9", None]}).select(code.alias("__driver"))
    assert coded["__driver"].to_list() == [0, 1, None, None, None]  # drivers sorted: mission, worklife
    assert coded.drop_nulls().select(name)["__driver"].to_list() == ["mission", "worklife"]
    # an answer to an item the catalogue does not hold counts nowhere (as an inner join on item_id)
    rows = responses(SCORES, NPS) + [("A-r0", "kA0", "A", dt.date(2024, 5, 15), dt.date(2024, 4, 1), "2024Q2", "X9", 1, 1)]
    assert engagement_table(frame(rows), ITEMS, employees({"A": 8}), 4, 5).equals(engagement_table(frame(responses(SCORES, NPS)), ITEMS, employees({"A": 8}), 4, 5))


def test_wilson_matches_reference():
    # Wilson 95% for 7/12: 0.3196 .. 0.8063 (e.g. statsmodels proportion_confint method='wilson')
    frame_ = pl.DataFrame({"x": [7.0], "n": [12.0]})
    low, high = wilson(pl.col("x"), pl.col("n"))
    lo, hi = frame_.select(low.alias("lo"), high.alias("hi")).row(0)
    from statsmodels.stats.proportion import proportion_confint

    ref = proportion_confint(7, 12, alpha=0.05, method="wilson")
    assert (lo, hi) == pytest.approx(ref, abs=1e-9)


def test_enps_by_hand():
    table = enps_table(frame(responses(SCORES, NPS)), ITEMS, employees({"A": 8}), min_group_size=5)
    row = table.filter(pl.col("level") == "team").row(0, named=True)
    assert (row["promoters"], row["detractors"]) == (3, 2)
    assert row["enps"] == pytest.approx((3 / 6 - 2 / 6) * 100)
    assert row["enps_low"] < row["enps"] < row["enps_high"]


def test_small_team_hidden_in_engagement():
    rows = responses(SCORES, NPS, "A") + responses(SCORES[:3], NPS[:3], "B") + responses(SCORES, NPS, "C")
    table = engagement_table(frame(rows), ITEMS, employees({"A": 8, "B": 8, "C": 8}), favourable_min=4, min_group_size=5)
    b = table.filter((pl.col("team") == "B")).row(0, named=True)
    assert b["suppressed"] and b["pct_favourable"] is None and b["respondents"] is None
    assert table.filter(pl.col("suppressed").is_null() & (pl.col("respondents") < 5)).height == 0


def test_response_rate():
    table = response_rate_table(frame(responses(SCORES, NPS)), employees({"A": 8}), min_group_size=5)
    row = table.filter(pl.col("level") == "team").row(0, named=True)
    assert (row["invited"], row["respondents"]) == (8, 6)
    assert row["response_rate"] == pytest.approx(0.75)


# ---------------------------------------------------------------- reliability


def _answers(matrix, items, wave=dt.date(2024, 4, 1), team="A", prefix="r"):
    rows = []
    for i, answers in enumerate(matrix):
        for item, v in zip(items, answers, strict=True):
            if v is not None:
                rows.append((f"{prefix}{wave}{i}", f"k{team}{i}", team, wave + dt.timedelta(days=44), wave, f"{wave.year}Q{(wave.month - 1) // 3 + 1}", item, v, v))
    return rows


ALPHA_ITEMS = pl.LazyFrame(
    {"item_id": ["I1", "I2", "I3", "S"], "driver": ["mission", "mission", "mission", "intent_to_stay"], "scale": ["likert5"] * 4, "reverse_scored": [False] * 4}
)


def test_cronbach_alpha_worked_example():
    # Items (columns) for four respondents: variances 5/3, 11/12, 5/3 (sum 17/4); totals 13, 10, 15, 7
    # with variance 49/4; alpha = 3/2 * (1 - (17/4) / (49/4)) = 48/49.
    matrix = [(4, 5, 4), (3, 4, 3), (5, 5, 5), (2, 3, 2)]
    table = reliability_table(frame(_answers(matrix, ["I1", "I2", "I3"])), ALPHA_ITEMS, employees({"A": 8}), min_group_size=3)
    row = table.filter((pl.col("level") == "team") & (pl.col("driver") == "mission")).row(0, named=True)
    assert row["alpha"] == pytest.approx(48 / 49, abs=1e-12)
    assert (row["n_items"], row["n_respondents"], row["suppressed"]) == (3, 4, None)
    assert table["driver"].unique().to_list() == ["mission"]  # a one-item driver has no alpha


def test_cronbach_alpha_equals_hoyt_anova_and_uses_complete_cases_only():
    import numpy as np

    rng = np.random.default_rng(3)
    latent = rng.normal(3, 1, 40)
    matrix = np.clip(np.round(latent[:, None] + rng.normal(0, 0.8, (40, 3))), 1, 5).astype(int)
    # Hoyt (1941): alpha = 1 - MS(residual) / MS(persons) of the persons x items two-way layout
    n, k = matrix.shape
    grand = matrix.mean()
    ss_persons = k * ((matrix.mean(axis=1) - grand) ** 2).sum()
    ss_items = n * ((matrix.mean(axis=0) - grand) ** 2).sum()
    ss_residual = ((matrix - grand) ** 2).sum() - ss_persons - ss_items
    hoyt = 1 - (ss_residual / ((n - 1) * (k - 1))) / (ss_persons / (n - 1))
    rows = [tuple(int(v) for v in r) for r in matrix] + [(5, None, 1), (1, 5, None)]  # two incomplete responses
    table = reliability_table(frame(_answers(rows, ["I1", "I2", "I3"])), ALPHA_ITEMS, employees({"A": 50}), min_group_size=5)
    row = table.filter(pl.col("level") == "organisation").row(0, named=True)
    assert row["alpha"] == pytest.approx(hoyt, abs=1e-12)
    assert row["n_respondents"] == 40


def test_reliability_of_a_small_team_is_hidden():
    big = [(4, 5, 4), (3, 4, 3), (5, 5, 5), (2, 3, 2), (4, 4, 4), (3, 3, 2)] * 2
    rows = _answers(big, ["I1", "I2", "I3"], team="A") + _answers(big[:3], ["I1", "I2", "I3"], team="B") + _answers(big, ["I1", "I2", "I3"], team="C")
    table = reliability_table(frame(rows), ALPHA_ITEMS, employees({"A": 20, "B": 20, "C": 20}), min_group_size=5)
    b = table.filter(pl.col("team") == "B").row(0, named=True)
    assert b["suppressed"] and b["alpha"] is None and b["n_respondents"] is None
    assert table.filter(pl.col("suppressed").is_null() & (pl.col("n_respondents") < 5)).height == 0


# ---------------------------------------------------------------- change against the previous wave


def _two_waves(before, after):
    """One team in two waves; each respondent answers both mission items alike, so % favourable
    counts respondents. Respondent i is the same person (employee kAi) in both waves."""
    rows = _answers([(v, v) for v in before], ["M1", "M2"], wave=dt.date(2024, 1, 1))
    rows += _answers([(v, v) for v in after], ["M1", "M2"], wave=dt.date(2024, 4, 1))
    return frame(rows)


def test_change_intervals_match_newcombe_and_welch():
    import numpy as np
    from scipy import stats
    from statsmodels.stats.proportion import confint_proportions_2indep

    before = [5, 4, 2, 1, 5, 3, 2, 2, 4, 1, 3, 2]
    after = [5, 4, 4, 5, 5, 3, 4, 2, 4, 5, 3, 4, 5, 4, 2, 5, 3, 4]  # the same 12 and 6 newcomers
    responses = _two_waves(before, after)
    people = employees({"A": 20})
    engagement = engagement_table(responses, ITEMS, people, favourable_min=4, min_group_size=5)
    change = engagement_change_table(engagement, responses, ITEMS, people, min_group_size=5)
    row = change.filter((pl.col("level") == "team") & (pl.col("driver") == "mission")).row(0, named=True)
    assert (row["respondents"], row["previous_respondents"], row["respondents_joined"], row["respondents_left"]) == (18, 12, 6, 0)
    fav_after, fav_before = sum(v >= 4 for v in after), sum(v >= 4 for v in before)
    assert row["pct_favourable_change"] == pytest.approx(fav_after / 18 - fav_before / 12)
    low, high = confint_proportions_2indep(fav_after, 18, fav_before, 12, method="newcomb", compare="diff")
    assert (row["pct_favourable_change_low"], row["pct_favourable_change_high"]) == pytest.approx((low, high), abs=1e-10)
    welch = stats.ttest_ind(np.array(after, float), np.array(before, float), equal_var=False).confidence_interval(0.95)
    assert row["mean_change"] == pytest.approx(np.mean(after) - np.mean(before))
    assert (row["mean_change_low"], row["mean_change_high"]) == pytest.approx((welch.low, welch.high), abs=1e-10)
    assert row["significant_change"] == (low > 0 or high < 0)
    assert row["mean_change_significant"] == (welch.low > 0 or welch.high < 0)


def test_a_clear_rise_is_flagged_and_noise_is_not():
    people = employees({"A": 60})
    rise = _two_waves([1, 2, 2, 3, 2, 1] * 5, [4, 5, 5, 4, 3, 5] * 5)
    same = _two_waves([1, 2, 4, 5, 3, 4] * 5, [2, 1, 5, 4, 4, 3] * 5)
    for responses, expected in ((rise, True), (same, False)):
        engagement = engagement_table(responses, ITEMS, people, favourable_min=4, min_group_size=5)
        change = engagement_change_table(engagement, responses, ITEMS, people, min_group_size=5)
        flags = change.filter(pl.col("driver") == "mission").select("significant_change", "mean_change_significant").unique()
        assert flags.rows() == [(expected, expected)]


def test_first_wave_has_no_change_and_a_hidden_wave_hides_the_change():
    people = employees({"A": 20})
    responses = _two_waves([5, 4, 2], [5, 4, 2, 1, 5, 3])  # 3 respondents, then 6
    engagement = engagement_table(responses, ITEMS, people, favourable_min=4, min_group_size=5)
    change = engagement_change_table(engagement, responses, ITEMS, people, min_group_size=5)
    assert change["wave"].unique().to_list() == [dt.date(2024, 4, 1)]
    assert change["suppressed"].null_count() == 0 and change["mean_change"].null_count() == change.height
