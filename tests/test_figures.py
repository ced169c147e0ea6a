"""The exhibit registry and the chart/table builders, on small hand-built tables."""

import json
from pathlib import Path

import polars as pl
import pytest

import report_fixtures as fx
from analysis import exhibits, pipeline
from analysis.exhibits import EXHIBITS, Context, Exhibit, registered
from analysis.numbers import band_position, line_position


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("exhibits")
    fx.build_results(root)
    return root / "results"


@pytest.fixture(scope="module")
def built_fr(tmp_path_factory):
    root = tmp_path_factory.mktemp("exhibits-fr")
    fx.build_results(root, language="fr")
    return root / "results"


def spec(results: Path, label: str, stem: str) -> dict:
    return json.loads((results / "figures" / label / f"{stem}.vl.json").read_text(encoding="utf-8"))


def test_registry_ids_are_unique_and_tables_are_known():
    ids = [(e.scope, e.kind, e.stem) for e in EXHIBITS]
    assert len(ids) == len(set(ids))
    sources = pipeline.exhibit_sources()
    for e in EXHIBITS:
        assert set(e.tables) <= set(sources), e
        module, _, function = e.builder.partition(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function)), e.builder


def test_rule_inputs_and_outputs_follow_the_registry():
    inputs = pipeline.exhibit_inputs("quarterly")
    assert inputs["turnover"] == "results/tables/turnover.parquet"
    assert inputs["ingest_manifest"] == "results/ingest/manifest.json"
    assert set(inputs) == {t for e in registered("quarterly") for t in e.tables}
    outputs = pipeline.exhibit_outputs("quarterly", "2026Q3")
    assert outputs["fig_turnover_trend_vl_json"] == "results/figures/2026Q3/turnover-trend.vl.json"
    assert outputs["tbl_ingest_summary_tbl_json"] == "results/figures/2026Q3/ingest-summary.tbl.json"
    assert len(outputs) == sum(len(exhibits.FILE_KINDS[e.kind]) for e in registered("quarterly"))
    assert "results/figures/research/config.tbl.json" in pipeline.research_files()


def test_a_builder_may_read_only_the_tables_it_declares(tmp_path):
    paths = fx.write_tables(tmp_path)
    exhibit = Exhibit("fig", "x", "quarterly", ("turnover",), "analysis.figures:driver_trend")
    ctx = Context(exhibit, paths, "2026Q3", "2026Q3", fx.CONFIG, "en")
    with pytest.raises(KeyError, match="reads 'engagement' but declares only"):
        ctx.table("engagement")


def test_every_exhibit_writes_its_files_with_id_and_data(built):
    for scope, label in (("quarterly", "2026Q3"), ("research", "research")):
        for e in registered(scope):
            files = e.files(built / "figures" / label)
            for path in files.values():
                assert Path(path).is_file() and Path(path).stat().st_size > 0, path
            meta_file = files["vl.json"] if e.kind == "fig" else files["tbl.json"]
            meta = json.loads(Path(meta_file).read_text(encoding="utf-8"))
            meta = meta["usermeta"]["retain"] if e.kind == "fig" else meta
            assert meta["id"] == e.id(label)
            assert meta["source_tables"] == list(e.tables)
            if e.kind == "fig":
                assert Path(files["svg"]).read_text(encoding="utf-8").lstrip().startswith("<svg")


def test_chart_data_is_exactly_the_table_rows(built):
    turnover = pl.read_parquet(built / "tables/turnover.parquet")
    data = pl.read_parquet(built / "figures/2026Q3/turnover-trend.parquet")
    expected = turnover.filter(pl.col("level") == "organisation").sort("quarter")
    assert data["voluntary_rate"].to_list() == expected["voluntary_rate"].to_list()
    inline = spec(built, "2026Q3", "turnover-trend")
    values = [layer for layer in inline["layer"] if layer.get("data", {}).get("values") and "quarter" in layer["data"]["values"][0]]
    assert values and [v["voluntary_rate"] for v in values[0]["data"]["values"]] == expected["voluntary_rate"].to_list()


def test_titles_state_the_finding_from_the_same_judgement_as_the_text(built):
    numbers = {r["id"]: r for r in json.loads((built / "numbers/2026Q3.json").read_text(encoding="utf-8"))}
    trend = spec(built, "2026Q3", "turnover-trend")["usermeta"]["retain"]["title"]
    assert numbers["num:voluntary-turnover:2026Q3"]["display"] in trend
    assert numbers["num:voluntary-turnover-band:2026Q3"]["value"] == "inside" and "inside the contact-centre range" in trend
    drivers = spec(built, "2026Q3", "driver-trend")["usermeta"]["retain"]["title"]
    assert "Manager" in drivers.split(";")[0] and "Mission" in drivers.split(";")[1]
    assert numbers["num:driver-strongest:2026Q3"]["value"] == "manager"


def test_hidden_cells_are_marked_never_blank(built):
    heat = pl.read_parquet(built / "figures/2026Q3/team-driver-heatmap.parquet")
    hidden = heat.filter(pl.col("suppressed").is_not_null())
    assert hidden.height == 12  # B-1 and B-2, six drivers each
    assert hidden["label"].unique().to_list() == ["hidden (n<5)"]
    assert hidden["pct_favourable"].null_count() == hidden.height  # no number leaks
    svg = (built / "figures/2026Q3/team-driver-heatmap.svg").read_text(encoding="utf-8")
    assert svg.count(">hidden (n&lt;5)</text>") == 12  # a visible label in each hidden cell
    assert 'stroke-dasharray="3,2"' in svg  # the dashed border of hidden cells
    team_svg = (built / "figures/2026Q3/turnover-by-team.svg").read_text(encoding="utf-8")
    assert team_svg.count(">hidden (n&lt;5)</text>") == 2


def test_tables_mark_hidden_rows_with_the_reason(built):
    data = pl.read_parquet(built / "figures/research/turnover-team.parquet")
    reasons = dict(data.filter(pl.col("quarter") == "2026Q3").select("team", "suppressed").iter_rows())
    assert reasons == {"A-1": None, "A-2": None, "B-1": "complementary", "B-2": "primary"}
    meta = json.loads((built / "figures/research/turnover-team.tbl.json").read_text(encoding="utf-8"))
    assert meta["collapsed"] is True and {"name": "suppressed", "label": "Hidden", "format": {"kind": "category", "group": "suppressed"}} in meta["columns"]
    ingest = pl.read_parquet(built / "figures/2026Q3/ingest-summary.parquet")
    assert dict(ingest.select("table", "rows_rejected").iter_rows()) == {"employees": 2, "survey_responses": 1}


def test_config_table_carries_the_config_hash(built):
    from analysis.config import config_hash

    meta = json.loads((built / "figures/research/config.tbl.json").read_text(encoding="utf-8"))
    assert meta["config_sha256"] == config_hash(fx.CONFIG)
    rows = dict(pl.read_parquet(built / "figures/research/config.parquet").iter_rows())
    assert rows["benchmarks.contact_centre_low"] == "0.3" and rows["report.language"] == '"en"'


def test_french_charts_use_french_words_and_number_format(built_fr):
    meta = spec(built_fr, "2026Q3", "turnover-trend")["usermeta"]["retain"]
    assert meta["language"] == "fr" and meta["format_locale"] == "fr-FR"
    assert meta["title"].startswith("Turnover volontaire de ") and "\u202f%" in meta["title"]
    svg = (built_fr / "figures/2026Q3/turnover-trend.svg").read_text(encoding="utf-8")
    assert "Centres de contact" in svg and "\u202f%" in svg  # axis labels in the fr-FR d3 locale


@pytest.mark.parametrize(
    ("rate", "low", "high", "expected"),
    [
        (0.50, 0.46, 0.60, "above"),
        (0.50, 0.40, 0.60, "above-uncertain"),
        (0.40, 0.20, 0.60, "inside"),
        (0.25, 0.18, 0.35, "below-uncertain"),
        (0.20, 0.10, 0.29, "below"),
        (None, None, None, None),
    ],
)
def test_band_position_counts_the_interval(rate, low, high, expected):
    assert band_position(rate, low, high, 0.30, 0.45) == expected


def test_line_position_needs_the_whole_interval():
    assert line_position(0.26, 0.17, 0.39, 0.151) == "above"
    assert line_position(0.20, 0.10, 0.30, 0.151) == "overlaps"
    assert line_position(0.10, 0.05, 0.14, 0.151) == "below"


# ------------------------------------------------------------------ engagement -> retention and programmes


def _build_one(tmp_path, stem: str, edit=None):
    """One quarterly exhibit built on the fixture tables, after `edit(name -> frame)` changed some of them."""
    paths = fx.write_tables(tmp_path)
    if edit:
        for name, frame in edit({n: pl.read_parquet(p) for n, p in paths.items() if p.endswith(".parquet")}).items():
            frame.write_parquet(paths[name])
    exhibit = next(e for e in registered("quarterly") if e.stem == stem)
    ctx = Context(exhibit, paths, "2026Q3", "2026Q3", fx.CONFIG, "en")
    return exhibits._builder(exhibit)(ctx)


def test_km_title_claims_the_finding_only_when_the_data_say_so(built, tmp_path):
    title = spec(built, "2026Q3", "km-curves")["usermeta"]["retain"]["title"]
    numbers = {r["id"]: r for r in json.loads((built / "numbers/2026Q3.json").read_text(encoding="utf-8"))}
    assert numbers["num:km-reading:2026Q3"]["value"] == "less-engaged-leave-sooner"
    assert title.startswith("Less engaged agents leave sooner") and numbers["num:km-low:2026Q3"]["display"] in title
    assert numbers["num:km-day:2026Q3"]["value"] == 360  # the last grid day within 365 that every tier reaches
    # The same gap with a log-rank p of 0.3 is no finding: the title turns neutral.
    weak = _build_one(tmp_path, "km-curves", lambda t: {"km_logrank": t["km_logrank"].with_columns(pl.lit(0.3).alias("p"))})
    assert weak.title.startswith("No clear difference in retention") and "p = 0.300" in weak.title


def test_km_curves_never_draw_a_hidden_point(built):
    data = pl.read_parquet(built / "figures/2026Q3/km-curves.parquet")
    assert data["survival"].null_count() == 0 and data.filter((pl.col("tier") == "low") & (pl.col("time_days") == 390)).height == 0
    table = pl.read_parquet(built / "figures/research/km-curves.parquet")
    hidden = table.filter(pl.col("suppressed").is_not_null())
    assert hidden.height == 1 and hidden["suppressed"][0] == "primary" and hidden["survival"][0] is None


def test_forest_plot_is_log_scale_with_a_line_at_one(built, tmp_path):
    forest = spec(built, "2026Q3", "hazard-ratios")
    layers = forest["layer"]
    assert any(layer["encoding"]["x"].get("scale", {}).get("type") == "log" for layer in layers if "x" in layer.get("encoding", {}))
    assert any(layer.get("data", {}).get("values") == [{"v": 1, "t": "no association (1)"}] for layer in layers)
    data = pl.read_parquet(built / "figures/2026Q3/hazard-ratios.parquet")
    assert data["driver"].to_list() == ["engagement", "mission", "recognition", "worklife", "growth", "autonomy", "manager"]
    assert forest["usermeta"]["retain"]["title"].startswith("Higher engagement goes with a lower risk of leaving: hazard ratio 0.66")
    # An interval that includes 1 gives a neutral title, never a claimed association.
    unclear = _build_one(tmp_path, "hazard-ratios", lambda t: {"competing_risks_hr": t["competing_risks_hr"].with_columns(pl.lit(1.2).alias("hr_high"))})
    assert unclear.title.startswith("No clear association between engagement and leaving")


def test_event_study_marks_the_pre_period_zero_and_start(built):
    data = pl.read_parquet(built / "figures/2026Q3/event-study-mission.parquet")
    assert set(data.filter(pl.col("event_time") < 0)["period"]) == {"before"} and set(data.filter(pl.col("event_time") >= 0)["period"]) == {"after"}
    turnover = data.filter((pl.col("outcome") == "voluntary_turnover") & (pl.col("event_time") == 0))
    assert turnover["shown_att"][0] == pytest.approx(-12.0)  # percentage points a year
    panel = spec(built, "2026Q3", "event-study-mission")["hconcat"][0]["layer"]
    values = [layer.get("data", {}).get("values") for layer in panel]
    assert [{"v": 0}] in values and [{"v": -0.5, "t": "start"}] in values
    # The legend is drawn from the point layer's stroke and fill scales: both must map the period field,
    # so "after the start" shows a filled dot and "before" a hollow one, exactly as the chart draws them.
    (points,) = [layer for layer in panel if layer.get("mark", {}).get("type") == "point"]
    stroke, fill = points["encoding"]["stroke"], points["encoding"]["fill"]
    assert fill["field"] == stroke["field"] == "period_label"
    assert fill["scale"]["domain"] == stroke["scale"]["domain"] == ["before the start (placebo)", "after the start"]
    assert fill["scale"]["range"] == ["white", stroke["scale"]["range"][1]]
    titles = {p: spec(built, "2026Q3", f"event-study-{p}")["usermeta"]["retain"]["title"] for p in ("mission", "recognition", "worklife")}
    assert "a clear reduction" in titles["mission"] and titles["recognition"].startswith("Recognition: no clear effect") and "a clear increase" in titles["worklife"]


def _colour_ranges(node) -> list[tuple[str, list]]:
    """Every (field, range) of a color/stroke/fill scale anywhere in a Vega-Lite spec."""
    found = []
    if isinstance(node, dict):
        for channel in ("color", "stroke", "fill"):
            enc = node.get("encoding", {}).get(channel, {})
            if isinstance(enc, dict) and "field" in enc and "range" in enc.get("scale", {}):
                found.append((enc["field"], enc["scale"]["range"]))
        for value in node.values():
            found += _colour_ranges(value)
    elif isinstance(node, list):
        for value in node:
            found += _colour_ranges(value)
    return found


def test_site_colours_never_borrow_the_benchmark_band_orange(built):
    """Site lines, dots and bars sit on or beside the orange contact-centre band: no site may be drawn in it."""
    from analysis.figures import BENCH_FILL

    for stem in ("turnover-by-site", "turnover-by-team", "response-rates"):
        ranges = [r for field, r in _colour_ranges(spec(built, "2026Q3", stem)) if field == "site"]
        assert ranges, stem
        assert all(BENCH_FILL.lower() not in [c.lower() for c in r] for r in ranges), (stem, ranges)
