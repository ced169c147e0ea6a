"""Which survey drivers matter most for staying: Shapley decomposition of R², bootstrapped.

Method (LMG, Lindeman-Merenda-Gold 1980; = "general dominance" in Budescu's dominance
analysis; Grömping 2006). With predictors P = {1..p} and R²(S) the fit of the model on the
subset S, driver j's share of the full model's R² is its Shapley value

    phi_j = sum over S ⊆ P \\ {j} of  |S|! (p - |S| - 1)! / p!  * (R²(S ∪ {j}) - R²(S)),

i.e. its extra R² averaged over every order in which the predictors could enter the model.
The phi_j add up to R²(P) exactly, are never negative for OLS R², and split the variance that
correlated drivers share evenly instead of crediting whichever enters first. With the six
Likert drivers that is 2^6 = 64 subset models per fit; `share` = phi_j / R²(P). The formula is
written out below (a few lines of NumPy) and tested against a brute-force average over all 720
orders of entry with statsmodels fits (tests/test_drivers.py).

Outcomes, one respondent (a survey response) per row:

- intent_to_stay: the intent-to-stay item's score (mean if several items), 1-5; R² is the
  ordinary least-squares R².
- voluntary_exit_12m: 1 when the respondent's employment spell ended in a voluntary exit
  within `retention.horizon_days` (365) days of the response, counting its day; 0 otherwise,
  an involuntary exit in that window included (the same definition as survival.py's 12-month
  exit model). Only responses whose window ends by the last day of `period.end` count: later
  ones are not known yet. Needs linked responses (employee_key). R² is McFadden's pseudo-R² of
  a logistic regression, 1 - logL(S) / logL(∅), by default (`drivers.exit_r2: mcfadden`);
  `ols` uses the R² of the linear probability model instead. Both give nearly the same shares
  here: exits are common (about 25% of responses) and the effects small.

Predictors are each respondent's mean score on the driver's items (reverse items re-scored);
responses missing any driver or the outcome are dropped (complete cases). Waves: with
`drivers.waves: all` (default) every wave is pooled (for exits: every wave whose follow-up is
complete), which gives far more exits than one wave; with `latest` only the latest such wave.

Computation: each logistic fit runs on the distinct (scores, outcome) rows with summed weights
(the same weighted likelihood; subsets of up to three drivers have a few thousand distinct rows,
four about half as many as responses). The distinct rows of every subset are found once; a
bootstrap replicate sums its weights onto them and its Newton iterations start from the full
sample's estimates, and Newton stops at a step below 1e-4 (quadratic convergence: the
log-likelihood is then the maximum's to rounding). These change the results only by
floating-point rounding (below 1e-9 in the shares; tests/test_drivers.py).

Uncertainty: a cluster bootstrap that resamples people (employee_key; each anonymous response is
its own person), so a person's repeated responses in pooled waves travel together. Each
replicate recomputes all 64 subset fits and the six shares and ranks (1 = largest share).
share_low/share_high are the 2.5 and 97.5 percentiles of the bootstrap shares, rank_low /
rank_high the same percentiles of the bootstrap ranks, p_top the share of replicates in which
the driver ranks first. The seed and the number of replicates are `drivers.seed` and
`drivers.bootstrap_reps`.

Sample: the bootstrap refits 63 models per replicate on every row. With more people than
`drivers.max_people` (per outcome, after complete cases) the ranking uses a random sample of that
many people, all their responses (analysis/sampling.py: a SHA-256 hash of the person key with
`drivers.seed`, the same on every rerun); `people` is the sample, `eligible_people` everyone who
could have been in it. The bootstrap intervals are those of the sample (wider, honestly so).
"""

from __future__ import annotations

import datetime as dt
import logging
from math import factorial, prod
from typing import Any

import numpy as np
import polars as pl

from analysis.periods import quarter_end
from analysis.privacy import assert_gated, gate_flat
from analysis.sampling import keep_sampled, sample_people

log = logging.getLogger("retain")

DRIVERS = ("mission", "recognition", "worklife", "growth", "autonomy", "manager")
INTENT = "intent_to_stay"
EXIT = "voluntary_exit_12m"
NOT_ENOUGH = "too few respondents or outcomes to rank the drivers"
MIN_EVENTS = 10  # fewer exits (or stayers) than this and a logistic fit is not worth showing
TOLERANCE = 1e-4  # Newton's last step, largest coefficient change (see _logistic_fit)


# ------------------------------------------------------------------ Shapley value of R²


def subset_masks(p: int) -> np.ndarray:
    """All 2^p subsets of p predictors as a (2^p, p) boolean matrix; row index = bit mask."""
    index = np.arange(2**p)
    return ((index[:, None] >> np.arange(p)[None, :]) & 1).astype(bool)


def shapley_matrix(p: int) -> np.ndarray:
    """The (2^p, p) matrix W with phi = r2_by_subset @ W (the Shapley formula as one linear map).

    For every subset S without j, the weight |S|! (p-|S|-1)! / p! is added at row S ∪ {j} and
    subtracted at row S, column j.
    """
    masks = subset_masks(p)
    sizes = masks.sum(axis=1)
    weights = np.array([factorial(k) * factorial(p - k - 1) / factorial(p) for k in range(p)])
    W = np.zeros((2**p, p))
    for j in range(p):
        without = np.nonzero(~masks[:, j])[0]
        W[without | (1 << j), j] += weights[sizes[without]]
        W[without, j] -= weights[sizes[without]]
    return W


def shapley_r2(r2_by_subset: np.ndarray, p: int) -> np.ndarray:
    """Shapley values of R² from the R² of every subset (row index = bit mask; row 0 = empty)."""
    return np.asarray(r2_by_subset) @ shapley_matrix(p)


def linear_r2_by_subset(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """OLS R² (with intercept) of y on every subset of the columns of x, from the (weighted) covariances.

    R²(S) = c_yS' C_SS^-1 c_yS / var(y), C = covariance of the predictors, c = their covariance
    with y. Frequency weights give the same result as repeating rows (the bootstrap uses them).
    """
    p = x.shape[1]
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    data = np.column_stack([x, y])
    mean = w @ data / w.sum()
    centred = data - mean
    cov = (centred * w[:, None]).T @ centred
    cxx, cxy, vy = cov[:p, :p], cov[:p, p], cov[p, p]
    r2 = np.zeros(2**p)
    if vy <= 0:
        return r2
    for mask, cols in enumerate(subset_masks(p)):
        if mask == 0:
            continue
        idx = np.nonzero(cols)[0]
        beta = np.linalg.lstsq(cxx[np.ix_(idx, idx)], cxy[idx], rcond=None)[0]
        r2[mask] = float(cxy[idx] @ beta) / vy
    return r2


def _logistic_fit(design: np.ndarray, y: np.ndarray, w: np.ndarray, start: np.ndarray | None = None, iterations: int = 50) -> tuple[float, np.ndarray]:
    """Maximised (weighted) log-likelihood of a logistic regression of y on the rows of `design`
    (one row per coefficient, the first all ones; contiguous rows make the Hessian's product a
    third faster than columns) by Newton-Raphson, and the coefficients.

    Newton starts at `start` (the bootstrap passes the full-sample estimate: a resample's maximum
    is close to it, so fewer steps are needed), else at the null model (intercept = logit of the
    mean, slopes 0). It stops after a step below TOLERANCE in every coefficient: Newton converges
    quadratically, so the coefficients are then within a small multiple of TOLERANCE² (~1e-8) of
    the maximum and the log-likelihood, flat there (its error is second order), is the maximum's
    to rounding: on the 100k-headcount exit bootstrap every share is within 4e-15 of the fits run
    to a 1e-10 step.
    """
    if start is None:
        beta = np.zeros(design.shape[0])
        ybar = float(w @ y / w.sum())
        beta[0] = np.log(ybar / (1 - ybar))
    else:
        beta = np.array(start, dtype=float)
    for _ in range(iterations):
        eta = beta @ design
        mu = 0.5 * (1.0 + np.tanh(0.5 * eta))  # the logistic function, without overflow
        grad = design @ (w * (y - mu))
        hess = (design * (w * mu * (1 - mu))) @ design.T
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]  # lstsq: a constant column in a resample is harmless
        beta += step
        if np.max(np.abs(step)) < TOLERANCE:
            break
    eta = beta @ design
    # log(mu) = -log(1 + e^-eta), log(1 - mu) = -log(1 + e^eta), computed stably
    return float(w @ (-y * np.logaddexp(0, -eta) - (1 - y) * np.logaddexp(0, eta))), beta


Cells = tuple[np.ndarray, np.ndarray, np.ndarray]


def subset_cells(x: np.ndarray, y: np.ndarray) -> dict[int, Cells]:
    """Per subset S of the columns (bit mask): every row's cell, its distinct value of (x[:, S], y);
    each cell's design [1, x[:, S]] as a (1 + |S|, cells) matrix; and each cell's y.

    A logistic likelihood with the weights summed per cell is the same likelihood as over the rows
    (to rounding), and far fewer values: a driver score is a mean of a few Likert items, so one to
    three drivers have a few thousand distinct values however many responses, and four drivers
    about half as many as responses. Found once, these serve every bootstrap resample: a
    resample's weights are summed onto the cells (np.bincount), its absent rows weigh nothing.
    """
    if not np.isin(y, (0.0, 1.0)).all():  # the cells' keys and the likelihood assume it
        raise ValueError("McFadden R²: the outcome must be 0 or 1")
    p = x.shape[1]
    codes = [np.unique(x[:, j], return_inverse=True) for j in range(p)]
    index_type = np.int32 if len(y) < 2**31 else np.int64
    out: dict[int, Cells] = {}
    for mask, cols in enumerate(subset_masks(p)):
        if not mask:
            continue
        index = np.nonzero(cols)[0]
        if 2 * prod(len(codes[j][0]) for j in index) < 2**62:
            # y is 0/1; one int64 mixed-radix key orders the cells by y, then each column's value
            key = y.astype(np.int64)
            for j in index:
                key = key * len(codes[j][0]) + codes[j][1]
            distinct, row_cell = np.unique(key, return_inverse=True)
            columns, rest = [], distinct
            for j in index[::-1]:
                values = codes[j][0]
                columns.append(values[rest % len(values)])
                rest = rest // len(values)
            cell_y, cell_columns = rest, columns[::-1]
        else:  # too many values for one int64 key (continuous columns): distinct rows, same order
            rows, row_cell = np.unique(np.column_stack([y.astype(np.int64), *(codes[j][1] for j in index)]), axis=0, return_inverse=True)
            cell_y, cell_columns = rows[:, 0], [codes[j][0][rows[:, i + 1]] for i, j in enumerate(index)]
        design = np.vstack([np.ones(len(cell_y)), *cell_columns])
        out[mask] = (row_cell.reshape(-1).astype(index_type), design, cell_y.astype(float))
    return out


def mcfadden_r2_by_subset(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    starts: dict[int, np.ndarray] | None = None,
    fits: dict[int, np.ndarray] | None = None,
    cells: dict[int, Cells] | None = None,
) -> np.ndarray:
    """McFadden's pseudo-R², 1 - logL(S) / logL(∅), of a logistic regression of a 0/1 y on every subset.

    weights: non-negative frequency weights (a bootstrap resample's draw counts, zero for the rows
    it left out); starts: Newton's starting coefficients per subset (bit mask), e.g. the full-sample
    fit for a bootstrap resample; fits: filled with each subset's estimated coefficients, when given;
    cells: `subset_cells(x, y)`, when the caller fits the same rows many times with other weights.
    """
    p = x.shape[1]
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    r2 = np.zeros(2**p)
    if not w.sum() > 0:
        return r2
    ybar = float(w @ y / w.sum())
    if ybar <= 0 or ybar >= 1:
        return r2
    null = float(w.sum() * (ybar * np.log(ybar) + (1 - ybar) * np.log(1 - ybar)))
    if cells is None:
        cells = subset_cells(x, y)
    for mask in range(1, 2**p):
        row_cell, cell_design, cell_y = cells[mask]
        summed = np.bincount(row_cell, weights=w, minlength=len(cell_y))
        present = np.nonzero(summed)[0]  # the cells of rows with a positive weight
        loglik, beta = _logistic_fit(cell_design[:, present], cell_y[present], summed[present], None if starts is None else starts.get(mask))
        r2[mask] = 1.0 - loglik / null
        if fits is not None:
            fits[mask] = beta
    return r2


R2_BY_SUBSET = {"ols": linear_r2_by_subset, "mcfadden": mcfadden_r2_by_subset}


# ------------------------------------------------------------------ bootstrap


def rank_descending(values: np.ndarray) -> np.ndarray:
    """Rank along the last axis, 1 = largest (ties broken by column order)."""
    return np.argsort(np.argsort(-values, axis=-1, kind="stable"), axis=-1, kind="stable") + 1


def importance(
    x: np.ndarray, y: np.ndarray, clusters: np.ndarray, *, r2: str, reps: int, seed: int
) -> dict[str, np.ndarray | float]:
    """Shapley R² shares of each column of x for y, with a cluster bootstrap of shares and ranks.

    clusters: one label per row (a person); the bootstrap draws people with replacement and
    weights each row by how often its person was drawn. Logistic (McFadden) fits of a resample
    start from the full sample's coefficients (warm start): the same maxima, fewer Newton steps.
    """
    p = x.shape[1]
    W = shapley_matrix(p)
    if r2 == "mcfadden":
        starts: dict[int, np.ndarray] = {}
        cells = subset_cells(x, y)
        full = mcfadden_r2_by_subset(x, y, fits=starts, cells=cells) @ W

        def subsets(weights: np.ndarray) -> np.ndarray:
            return mcfadden_r2_by_subset(x, y, weights, starts=starts, cells=cells)
    else:
        def subsets(weights: np.ndarray) -> np.ndarray:
            keep = weights > 0
            return R2_BY_SUBSET[r2](x[keep], y[keep], weights[keep])

        full = R2_BY_SUBSET[r2](x, y) @ W
    total = float(full.sum())
    _, person = np.unique(clusters, return_inverse=True)
    people = int(person.max()) + 1
    rng = np.random.default_rng(seed)
    boot = np.empty((reps, p))
    for b in range(reps):
        drawn = np.bincount(rng.integers(0, people, people), minlength=people)
        boot[b] = subsets(drawn[person].astype(float)) @ W
    boot_total = boot.sum(axis=1)
    boot_share = boot / np.where(boot_total > 0, boot_total, np.nan)[:, None]
    boot_rank = rank_descending(boot)
    return {
        "phi": full,
        "share": full / total if total > 0 else np.full(p, np.nan),
        "rank": rank_descending(full[None, :])[0],
        "share_low": np.nanquantile(boot_share, 0.025, axis=0),
        "share_high": np.nanquantile(boot_share, 0.975, axis=0),
        "rank_low": np.quantile(boot_rank, 0.025, axis=0, method="lower"),
        "rank_high": np.quantile(boot_rank, 0.975, axis=0, method="higher"),
        "p_top": (boot_rank == 1).mean(axis=0),
        "r2_total": total,
        "r2_total_low": float(np.quantile(boot_total, 0.025)),
        "r2_total_high": float(np.quantile(boot_total, 0.975)),
        "people": people,
    }


# ------------------------------------------------------------------ respondents and outcomes


def respondent_scores(responses: pl.LazyFrame, items: pl.LazyFrame) -> pl.LazyFrame:
    """One row per response: person (employee_key, or the response itself when anonymous), date,
    wave, each driver's mean score and the intent-to-stay score (Likert items only)."""
    likert = items.filter(pl.col("scale") == "likert5").select("item_id", "driver")
    answers = responses.join(likert, on="item_id")
    # One group_by (as survival.respondent_scores): each driver's mean is the mean of a column that
    # holds the score on that driver's answers and null elsewhere, a plain aggregation of a computed
    # column with bounded memory in the streaming engine (a filter inside the aggregation would hold
    # every answer); 100k-headcount: half the time of a group_by per (response, driver) and a join per driver.
    score = pl.col("score").cast(pl.Float64)
    scores = answers.group_by("response_id").agg(
        pl.col("employee_key").first(),
        pl.col("response_date").min(),
        pl.col("wave", "quarter").first(),
        *(pl.when(pl.col("driver") == d).then(score).mean().alias(d) for d in (*DRIVERS, INTENT)),
    )
    return (
        scores
        .with_columns(pl.coalesce("employee_key", "response_id").alias("person"))
        # one response per person and wave (the last, should a linked person have answered twice)
        .sort("person", "wave", "response_date", "response_id")
        .unique(subset=["person", "wave"], keep="last", maintain_order=True)
    )


def exit_outcomes(scores: pl.LazyFrame, employees: pl.LazyFrame, horizon_days: int, data_end: dt.date) -> pl.LazyFrame:
    """Linked responses with `voluntary_exit_12m` (1.0/0.0): a voluntary exit within the horizon.

    The window is the response day and the next horizon_days - 1 days (as in survival.py's
    12-month exit model). The response is matched to the employment spell that covers its date
    (the latest such spell if a roster has overlaps). Only responses whose whole window lies on
    or before data_end are kept, leavers and stayers alike: keeping early exits from windows that
    are still open would over-represent leavers among the latest waves. An involuntary exit in
    the window counts as 0 (that person can no longer quit).
    """
    window_end = pl.col("response_date") + pl.duration(days=horizon_days - 1)
    spells = employees.select("employee_key", "hire_date", "exit_date", "exit_type")
    covering = (pl.col("hire_date") <= pl.col("response_date")) & (
        pl.col("exit_date").is_null() | (pl.col("exit_date") >= pl.col("response_date"))
    )
    quit_in_window = (pl.col("exit_date") <= window_end).fill_null(False) & pl.col("exit_type").eq_missing("voluntary")
    return (
        scores.filter(pl.col("employee_key").is_not_null())
        .join(spells, on="employee_key")
        .filter(covering & (window_end <= data_end))
        .sort("response_id", "hire_date")
        .unique(subset="response_id", keep="last", maintain_order=True)
        .with_columns(quit_in_window.cast(pl.Float64).alias(EXIT))
        .drop("hire_date", "exit_date", "exit_type")
    )


def select_waves(frame: pl.LazyFrame, outcome: str, waves: str) -> pl.LazyFrame:
    """Complete cases for the outcome; all waves, or only the latest wave that has any."""
    complete = frame.drop_nulls([*DRIVERS, outcome])
    if waves == "latest":
        complete = complete.filter(pl.col("wave") == pl.col("wave").max())
    return complete.sort("response_id")


# ------------------------------------------------------------------ the table


def _outcome_rows(outcome: str, data: pl.DataFrame, *, r2: str, reps: int, seed: int, max_people: int | None = None) -> pl.DataFrame:
    eligible = data.get_column("person").n_unique()
    kept = sample_people(data.get_column("person"), max_people, seed)
    if kept is not None:
        data = keep_sampled(data, "person", kept)
        log.info("%s: ranked on a random sample of %d of %d people (drivers.max_people)", outcome, kept.len(), eligible)
    y = data.get_column(outcome).to_numpy()
    events = int(y.sum()) if outcome == EXIT else None
    people = data.get_column("person").n_unique()
    base = {
        "outcome": outcome,
        "driver": list(DRIVERS),
        "r2_kind": r2,
        "n": data.height,
        "people": people,
        "eligible_people": eligible,
        "events": events,
        "first_wave": data.get_column("wave").min(),
        "last_wave": data.get_column("wave").max(),
        "bootstrap_reps": reps,
    }
    enough = data.height > len(DRIVERS) + 1 and (events is None or min(events, data.height - events) >= MIN_EVENTS)
    enough = enough and float(np.var(y)) > 0
    numbers = ["share", "share_low", "share_high", "rank", "rank_low", "rank_high", "p_top", "r2_part", "r2_total", "r2_total_low", "r2_total_high"]
    if not enough:
        log.info("%s: %d responses, %s exits: not enough to rank the drivers", outcome, data.height, events)
        return pl.DataFrame({**base, **{k: [None] * len(DRIVERS) for k in numbers}}).with_columns(pl.lit(NOT_ENOUGH).alias("suppressed"))
    x = data.select(DRIVERS).to_numpy().astype(float)
    result = importance(x, y.astype(float), data.get_column("person").to_numpy(), r2=r2, reps=reps, seed=seed)
    log.info(
        "%s: %d responses from %d people, R² %.4f (%s); top driver %s (p_top %.2f)",
        outcome, data.height, people, result["r2_total"], r2, DRIVERS[int(np.argmin(result["rank"]))], float(np.max(result["p_top"])),
    )  # fmt: skip
    values = {
        "share": result["share"],
        "share_low": result["share_low"],
        "share_high": result["share_high"],
        "rank": result["rank"],
        "rank_low": result["rank_low"],
        "rank_high": result["rank_high"],
        "p_top": result["p_top"],
        "r2_part": result["phi"],
        "r2_total": [result["r2_total"]] * len(DRIVERS),
        "r2_total_low": [result["r2_total_low"]] * len(DRIVERS),
        "r2_total_high": [result["r2_total_high"]] * len(DRIVERS),
    }
    return pl.DataFrame({**base, **{k: list(map(float, v)) for k, v in values.items()}}).with_columns(pl.lit(None, pl.String).alias("suppressed"))


COLUMNS = [
    "level", "site", "team", "outcome", "driver", "share", "share_low", "share_high", "rank", "rank_low", "rank_high",
    "p_top", "r2_part", "r2_total", "r2_total_low", "r2_total_high", "r2_kind", "n", "people", "eligible_people", "events",
    "first_wave", "last_wave", "bootstrap_reps", "suppressed",
]  # fmt: skip


def driver_importance_table(
    responses: pl.LazyFrame, items: pl.LazyFrame, employees: pl.LazyFrame, config: dict[str, Any]
) -> pl.DataFrame:
    """The `driver_importance` table (docs/tables.md): organisation level, privacy-gated on people."""
    settings = config["drivers"]
    min_n = config["privacy"]["min_group_size"]
    scores = respondent_scores(responses, items)
    data_end = quarter_end(config["period"]["end"])
    exits = exit_outcomes(scores, employees, config["retention"]["horizon_days"], data_end)
    intent_data, exit_data = pl.collect_all(
        [select_waves(scores, INTENT, settings["waves"]), select_waves(exits, EXIT, settings["waves"])]
    )
    parts = [
        _outcome_rows(INTENT, intent_data, r2="ols", reps=settings["bootstrap_reps"], seed=settings["seed"], max_people=settings.get("max_people")),
        _outcome_rows(EXIT, exit_data, r2=settings["exit_r2"], reps=settings["bootstrap_reps"], seed=settings["seed"], max_people=settings.get("max_people")),
    ]
    table = pl.concat(parts, how="vertical_relaxed").with_columns(
        pl.lit("organisation").alias("level"), pl.lit(None, pl.String).alias("site"), pl.lit(None, pl.String).alias("team"),
        pl.col("rank", "rank_low", "rank_high").cast(pl.Int32),
        pl.col("events", "eligible_people").cast(pl.Int64),
    )  # fmt: skip
    values = [c for c in COLUMNS[5:-1] if c not in ("r2_kind", "people", "eligible_people", "first_wave", "last_wave", "bootstrap_reps")]
    # One organisation-level cell per outcome: no shown total contains it, so primary suppression only.
    gated = gate_flat(table.with_columns((pl.col("n") == 0).alias("__empty")), size="people", values=values, min_group_size=min_n)
    assert_gated(gated, "people", min_n)
    # nothing to rank (e.g. exits from an anonymous survey) says so rather than "too small"
    gated = gated.with_columns(pl.when(pl.col("__empty")).then(pl.lit(NOT_ENOUGH)).otherwise(pl.col("suppressed")).alias("suppressed"))
    order = pl.col("outcome").replace_strict({INTENT: 0, EXIT: 1}, return_dtype=pl.Int8)
    return gated.sort(order, pl.col("rank"), "driver", nulls_last=True).select(COLUMNS)


def run_rule(input: Any, output: Any, config: dict[str, Any]) -> None:
    """Rule `rank_drivers`: canonical responses, items and roster -> results/tables/driver_importance.parquet."""
    table = driver_importance_table(
        pl.scan_parquet(input.responses), pl.scan_parquet(input.catalogue), pl.scan_parquet(input.employees), config
    )
    table.write_parquet(output.driver_importance)
