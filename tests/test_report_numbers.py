"""Numbers in the reports' text match the tables they came from: every number printed in the
HTML is re-derived here from its source table (cells, changes, counts, rankings, band positions,
Poisson bounds), and chart titles and chart data agree with the same tables."""

import json
import re
from html import unescape

import polars as pl
import pytest
import yaml
from scipy import stats

from analysis.numbers import DRIVERS, band_position, line_position

pytestmark = pytest.mark.e2e
QUARTER, PREV = "2026Q3", "2026Q2"
NUM = re.compile(r'<span class="num[^"]*"[^>]*? data-id="(num:[^"]+)"[^>]*>([^<]*)</span>')


@pytest.fixture(scope="module")
def run(workflow_run):
    workdir, _, _ = workflow_run
    records = {r["id"]: r for r in json.loads((workdir / f"results/numbers/{QUARTER}.json").read_text(encoding="utf-8"))}
    config = yaml.safe_load((workdir / "config/config.yaml").read_text(encoding="utf-8"))
    tables = {}

    def table(path):
        if path not in tables:
            tables[path] = pl.read_parquet(workdir / path)
        return tables[path]

    return workdir, records, config, table


def rows(frame: pl.DataFrame, where: dict) -> pl.DataFrame:
    expr = pl.lit(True)
    for key, value in where.items():
        if isinstance(value, list):
            expr &= pl.col(key).is_in(value)
        else:
            expr &= pl.col(key).is_null() if value is None else pl.col(key) == value
    return frame.filter(expr)


def expected_value(record: dict, config: dict, table, workdir):
    """Re-derive a number from its recorded source."""
    source = record["source"]
    name = record["id"].split(":")[1]
    derivation = source.get("derivation")
    if source["table"] == "config":
        node = config
        for part in source["column"].split("."):
            node = node[part]
        return node
    if derivation and derivation.startswith("km_reading"):  # the curves at the compared day, and the log-rank test
        p = rows(table("results/tables/km_logrank.parquet"), {"test": "all tiers"})["p"][0]
        curves = rows(table(source["table"]), source["filter"])
        low, high = (rows(curves, {"tier": t})["survival"][0] for t in ("low", "high"))
        return "less-engaged-leave-sooner" if p < 0.05 and low < high else "more-engaged-leave-sooner" if p < 0.05 and low > high else "no-clear-difference"
    if source["table"].endswith(".json"):
        document = json.loads((workdir / source["table"]).read_text(encoding="utf-8"))
        if derivation == "rows_rejected / rows_read":
            return document["rows_rejected"] / document["rows_read"]
        return len(document["files"]) if source["column"] == "files" else document[source["column"]]
    if "{" in source["table"]:
        names = re.search(r"\{(.+)\}", source["table"]).group(1).split(",")
        return sum(rows(table(f"results/tables/{n}.parquet"), source["filter"]).filter(pl.col("suppressed").is_not_null()).height for n in names)
    frame = rows(table(source["table"]), source["filter"])
    column = source["column"]
    if derivation is None and isinstance(source["filter"].get("quarter"), list):  # a change since last quarter
        now = rows(frame, {"quarter": QUARTER})[column][0]
        before = rows(frame, {"quarter": PREV})[column][0]
        scale = 100 if record["format"]["kind"] == "points" and column != "enps" else 1
        return None if now is None or before is None else (now - before) * scale
    if derivation is None:
        assert frame.height == 1, record["id"]
        return frame[column][0]
    bench = config["benchmarks"]
    if derivation.startswith("band_position"):
        r = frame.row(0, named=True)
        return band_position(r["voluntary_rate"], r["voluntary_rate_low"], r["voluntary_rate_high"], bench["contact_centre_low"], bench["contact_centre_high"])
    if derivation.startswith("line_position"):
        r = frame.row(0, named=True)
        return line_position(r["voluntary_rate"], r["voluntary_rate_low"], r["voluntary_rate_high"], bench["all_industry"])
    if derivation == "count(voluntary_rate not null)":
        return frame.filter(pl.col("voluntary_rate").is_not_null()).height
    if derivation == "count(voluntary_rate null)":
        return frame.filter(pl.col("voluntary_rate").is_null()).height
    if derivation.startswith("count(voluntary_rate_low >"):
        return frame.filter(pl.col("voluntary_rate_low") > bench["contact_centre_high"]).height
    if derivation == "count(suppressed not null)":
        return frame.filter(pl.col("suppressed").is_not_null()).height
    if derivation in ("argmax(pct_favourable)", "argmin(pct_favourable)"):
        shown = frame.filter(pl.col("pct_favourable").is_not_null()).sort(["pct_favourable", "driver"], descending=[True, False])
        return shown["driver"][0] if derivation.startswith("argmax") else shown["driver"][-1]
    if derivation == "argmax(abs(change in pct_favourable))":
        wide = frame.pivot(on="quarter", index="driver", values="pct_favourable")
        change = wide.with_columns(((pl.col(QUARTER) - pl.col(PREV)).abs()).alias("c")).sort(["c", "driver"], descending=[True, True])
        return change["driver"][0]
    if derivation.startswith("100 * "):
        return 100 * frame[column][0]
    if derivation.startswith("change_reading"):
        low, high = frame["pct_favourable_change_low"][0], frame["pct_favourable_change_high"][0]
        return "clear-rise" if low > 0 else "clear-fall" if high < 0 else "noise"
    if derivation.startswith("poisson_"):
        count = frame["exits" if "exits" in source["column"] and "early" not in column else column][0]
        bound = stats.chi2.ppf(0.025, 2 * count) / 2 if derivation.startswith("poisson_low") else stats.chi2.ppf(0.975, 2 * count + 2) / 2
        if name.startswith("turnover-cost"):
            return bound * frame["cost"][0] / count
        return bound
    if derivation.startswith("km_horizon_day"):  # the last grid day within the horizon that every drawn tier reaches
        horizon = config["retention"]["horizon_days"]
        drawn = frame.filter(pl.col("survival").is_not_null())
        days = [d for d, part in drawn.filter(pl.col("time_days") <= horizon).group_by("time_days") if part["tier"].n_unique() == drawn["tier"].n_unique()]
        return max(d[0] for d in days)
    if derivation == "ratio_reading(hr_low, hr_high)":
        low, high = frame["hr_low"][0], frame["hr_high"][0]
        return "lower" if high < 1 else "higher" if low > 1 else "unclear"
    if derivation == "argmin(hr)":
        return frame.sort(["hr", "driver"])["driver"][0]
    if derivation == "count(hr_high < 1)":
        return frame.filter(pl.col("hr_high") < 1).height
    if derivation.startswith("effect_reading("):  # a programme: reduced / increased only when the whole interval is one side of 0
        if "exits_avoided" in derivation:
            low, high = -frame["exits_avoided_high"][0], -frame["exits_avoided_low"][0]
        else:
            low, high = frame["ci_low"][0], frame["ci_high"][0]
        return "reduced" if high < 0 else "increased" if low > 0 else "no-clear-effect"
    if derivation.startswith("max("):  # people a model family was fitted on / eligible: the same on every row
        values = frame[column].drop_nulls() if column in frame.columns else []
        return int(max(values)) if len(values) else None
    if derivation.startswith("sample_reading("):  # a random sample only when fewer people than were eligible
        fitted, eligible = (frame[c].drop_nulls() if c in frame.columns else [] for c in (column.split(", ")[0], "eligible_people"))
        if not len(fitted) or not len(eligible):
            return None
        return "sampled" if max(fitted) < max(eligible) else "everyone"
    if derivation.startswith("pretrend_p < "):
        return "doubt" if frame["pretrend_p"][0] < float(derivation.split("<")[1]) else "no-doubt"
    raise AssertionError(f"{record['id']}: no check for derivation {derivation!r}")


def test_every_number_in_the_quarterly_text_matches_its_table(run):
    workdir, records, config, table = run
    html = (workdir / f"results/reports/{QUARTER}/quarterly.html").read_text(encoding="utf-8")
    shown = NUM.findall(html)
    assert len(shown) > 60
    checked = set()
    for number_id, printed in shown:
        record = records[number_id]
        assert unescape(printed) == record["display"], number_id
        if number_id in checked:
            continue
        expected = expected_value(record, config, table, workdir)
        if isinstance(expected, str) or expected is None:
            assert record["value"] == expected, number_id
        else:
            assert record["value"] == pytest.approx(expected, rel=1e-9, abs=1e-9), number_id
        checked.add(number_id)
    # Every headline number of the summary is among them.
    for name in ("headcount", "voluntary-turnover", "early-exits-90d", "engagement-favourable", "enps", "turnover-cost"):
        assert f"num:{name}:{QUARTER}" in checked


def test_every_number_record_rederives_from_its_source(run):
    """Also the records the text does not print (yet): the numbers file is itself checked."""
    workdir, records, config, table = run
    for record in records.values():
        expected = expected_value(record, config, table, workdir)
        if isinstance(expected, str) or expected is None:
            assert record["value"] == expected, record["id"]
        else:
            assert record["value"] == pytest.approx(expected, rel=1e-9, abs=1e-9), record["id"]


def test_chart_titles_carry_the_same_numbers_as_the_text(run):
    workdir, records, _, _ = run

    def title(stem):
        return json.loads((workdir / f"results/figures/{QUARTER}/{stem}.vl.json").read_text(encoding="utf-8"))["usermeta"]["retain"]["title"]

    def shown(name):
        return records[f"num:{name}:{QUARTER}"]["display"]

    assert shown("voluntary-turnover") in title("turnover-trend")
    band = records[f"num:voluntary-turnover-band:{QUARTER}"]["value"]
    assert {"above": "clearly above", "below": "clearly below", "inside": "inside"}.get(band, band.split("-")[0]) in title("turnover-trend")
    site = records[f"num:site-highest-turnover:{QUARTER}"]
    assert title("turnover-by-site").startswith(site["subject"]) and site["display"] in title("turnover-by-site")
    strongest = records[f"num:driver-strongest:{QUARTER}"]
    assert strongest["display"] in title("driver-trend") and shown(f"driver-{strongest['value']}") in title("driver-trend")
    assert title("response-rates").startswith(shown("response-rate"))
    if records[f"num:teams-above-band:{QUARTER}"]["value"] == 0:
        team = records[f"num:team-highest-turnover:{QUARTER}"]
        assert team["subject"] in title("turnover-by-team") and team["display"] in title("turnover-by-team")


def test_chart_data_are_the_table_rows(run):
    workdir, _, _, table = run
    turnover = table("results/tables/turnover.parquet")
    trend = pl.read_parquet(workdir / f"results/figures/{QUARTER}/turnover-trend.parquet")
    org = turnover.filter((pl.col("level") == "organisation") & (pl.col("quarter") <= QUARTER)).sort("quarter")
    assert trend["voluntary_rate"].to_list() == org["voluntary_rate"].to_list()
    by_team = pl.read_parquet(workdir / f"results/figures/{QUARTER}/turnover-by-team.parquet")
    teams = turnover.filter((pl.col("level") == "team") & (pl.col("quarter") == QUARTER)).sort("site", "team")
    assert by_team.select("team", "voluntary_rate").rows() == teams.select("team", "voluntary_rate").rows()
    engagement = table("results/tables/engagement.parquet")
    heat = pl.read_parquet(workdir / f"results/figures/{QUARTER}/team-driver-heatmap.parquet")
    cells = engagement.filter((pl.col("level") == "team") & (pl.col("quarter") == QUARTER) & pl.col("driver").is_in(DRIVERS)).sort("site", "team", "driver")
    assert heat.select("team", "driver", "pct_favourable").rows() == cells.select("team", "driver", "pct_favourable").rows()


def test_research_tables_are_the_analysis_tables_in_full(run):
    workdir, _, _, table = run
    turnover = table("results/tables/turnover.parquet")
    for level, stem in (("organisation", "turnover-organisation"), ("site", "turnover-site"), ("team", "turnover-team")):
        shown = pl.read_parquet(workdir / f"results/figures/research/{stem}.parquet")
        source = turnover.filter(pl.col("level") == level)
        assert shown.height == source.height, stem
        assert sorted(shown["voluntary_rate"].drop_nulls().to_list()) == sorted(source["voluntary_rate"].drop_nulls().to_list())
    engagement = table("results/tables/engagement.parquet")
    shown = pl.read_parquet(workdir / "results/figures/research/engagement-team.parquet")
    assert shown.height == engagement.filter(pl.col("level") == "team").height
    html = (workdir / "results/reports/research.html").read_text(encoding="utf-8")
    assert html.count("<tr>") > shown.height  # every row is printed, not a sample
