"""The numbers a quarterly report states, each with a stable ID and its lineage.

A number record: id (e.g. "num:voluntary-turnover:2026Q3"), label, value, display (as printed),
unit, and `source`: the table file, the row filter and the column it was read from. Reports read
these records by ID and never compute.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from analysis.periods import shift_quarter


def fmt_pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def fmt_points(value: float | None, digits: int = 1, unit: str = "pts") -> str:
    return "n/a" if value is None else f"{value:+.{digits}f} {unit}"


def fmt_int(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value):,}"


def fmt_money(value: float | None, currency: str) -> str:
    return "n/a" if value is None else f"{currency} {value:,.0f}"


class Registry:
    def __init__(self, quarter: str):
        self.quarter = quarter
        self.records: list[dict[str, Any]] = []

    def add(self, name: str, label: str, value: Any, display: str, unit: str, table: str, filter_: dict, column: str) -> None:
        self.records.append(
            {
                "id": f"num:{name}:{self.quarter}",
                "label": label,
                "value": value,
                "display": display,
                "unit": unit,
                "source": {"table": table, "filter": filter_, "column": column},
            }
        )


def _row(frame: pl.DataFrame, **where: Any) -> dict[str, Any]:
    expr = pl.lit(True)
    for key, value in where.items():
        expr = expr & (pl.col(key).is_null() if value is None else (pl.col(key) == value))
    rows = frame.filter(expr)
    return rows.row(0, named=True) if rows.height else {}


def _delta(now: Any, before: Any, scale: float = 1.0) -> float | None:
    return None if now is None or before is None else (now - before) * scale


def build_numbers(tables: dict[str, str], quarter: str, config: dict) -> list[dict[str, Any]]:
    turnover = pl.read_parquet(tables["turnover"])
    engagement = pl.read_parquet(tables["engagement"])
    enps = pl.read_parquet(tables["enps"])
    rates = pl.read_parquet(tables["response_rates"])
    cost = pl.read_parquet(tables["cost"])
    ingest = json.loads(Path(tables["ingest_manifest"]).read_text(encoding="utf-8"))
    prev = shift_quarter(quarter, -1)
    reg = Registry(quarter)
    org = {"level": "organisation", "quarter": quarter}

    t_now, t_prev = _row(turnover, **org), _row(turnover, level="organisation", quarter=prev)
    tt = tables["turnover"]
    reg.add("headcount", "Headcount at quarter end", t_now.get("headcount_end"), fmt_int(t_now.get("headcount_end")), "people", tt, org, "headcount_end")
    change = _delta(t_now.get("headcount_end"), t_prev.get("headcount_end"))
    reg.add("headcount-change", f"Headcount change since {prev}", change, "n/a" if change is None else f"{change:+,.0f}", "people", tt, {"level": "organisation", "quarter": [prev, quarter]}, "headcount_end")
    for col, name, label in [
        ("voluntary_rate", "voluntary-turnover", "Annualised voluntary turnover"),
        ("voluntary_rate_low", "voluntary-turnover-low", "Voluntary turnover, 95% interval from"),
        ("voluntary_rate_high", "voluntary-turnover-high", "Voluntary turnover, 95% interval to"),
        ("involuntary_rate", "involuntary-turnover", "Annualised involuntary turnover"),
    ]:
        reg.add(name, label, t_now.get(col), fmt_pct(t_now.get(col)), "share per year", tt, org, col)
    change = _delta(t_now.get("voluntary_rate"), t_prev.get("voluntary_rate"), 100)
    reg.add("voluntary-turnover-change", f"Change in voluntary turnover since {prev}", change, fmt_points(change), "percentage points", tt, {"level": "organisation", "quarter": [prev, quarter]}, "voluntary_rate")
    for col, name, label in [
        ("voluntary_exits", "voluntary-exits", "Voluntary exits"),
        ("involuntary_exits", "involuntary-exits", "Involuntary exits"),
        ("early_exits_90d", "early-exits-90d", "Exits within 90 days of hire"),
        ("early_exits_12m", "early-exits-12m", "Exits within 12 months of hire"),
    ]:
        reg.add(name, label, t_now.get(col), fmt_int(t_now.get(col)), "people", tt, org, col)

    te = tables["engagement"]
    e_now = _row(engagement, level="organisation", quarter=quarter, driver="engagement")
    e_prev = _row(engagement, level="organisation", quarter=prev, driver="engagement")
    ef = {"level": "organisation", "quarter": quarter, "driver": "engagement"}
    for col, name, label in [
        ("pct_favourable", "engagement-favourable", "Engagement index (% favourable)"),
        ("pct_favourable_low", "engagement-favourable-low", "Engagement index, 95% interval from"),
        ("pct_favourable_high", "engagement-favourable-high", "Engagement index, 95% interval to"),
    ]:
        reg.add(name, label, e_now.get(col), fmt_pct(e_now.get(col), 0), "share", te, ef, col)
    change = _delta(e_now.get("pct_favourable"), e_prev.get("pct_favourable"), 100)
    reg.add("engagement-favourable-change", f"Change in engagement index since {prev}", change, fmt_points(change), "percentage points", te, ef | {"quarter": [prev, quarter]}, "pct_favourable")
    reg.add("respondents", "Survey respondents", e_now.get("respondents"), fmt_int(e_now.get("respondents")), "people", te, ef, "respondents")

    tn = tables["enps"]
    n_now, n_prev = _row(enps, **org), _row(enps, level="organisation", quarter=prev)
    for col, name, label in [("enps", "enps", "eNPS"), ("enps_low", "enps-low", "eNPS, 95% interval from"), ("enps_high", "enps-high", "eNPS, 95% interval to")]:
        value = n_now.get(col)
        reg.add(name, label, value, "n/a" if value is None else f"{value:+.0f}", "points (-100..100)", tn, org, col)
    change = _delta(n_now.get("enps"), n_prev.get("enps"))
    reg.add("enps-change", f"Change in eNPS since {prev}", change, fmt_points(change, 0), "points", tn, {"level": "organisation", "quarter": [prev, quarter]}, "enps")

    r_now = _row(rates, **org)
    reg.add("response-rate", "Survey response rate", r_now.get("response_rate"), fmt_pct(r_now.get("response_rate"), 0), "share", tables["response_rates"], org, "response_rate")

    c_now, c_prev = _row(cost, quarter=quarter), _row(cost, quarter=prev)
    currency = config["cost"]["currency"]
    tc = tables["cost"]
    reg.add("turnover-cost", "Cost of turnover this quarter", c_now.get("cost"), fmt_money(c_now.get("cost"), currency), currency, tc, {"quarter": quarter}, "cost")
    change = _delta(c_now.get("cost"), c_prev.get("cost"))
    reg.add("turnover-cost-change", f"Change in cost of turnover since {prev}", change, "n/a" if change is None else f"{'+' if change >= 0 else '-'}{currency} {abs(change):,.0f}", currency, tc, {"quarter": [prev, quarter]}, "cost")

    suppressed = sum(
        pl.read_parquet(tables[name]).filter((pl.col("quarter") == quarter) & pl.col("suppressed").is_not_null()).height
        for name in ("turnover", "engagement", "enps")
    )
    reg.add("suppressed-cells", "Cells hidden by the privacy gate", suppressed, fmt_int(suppressed), "cells", "results/tables/{turnover,engagement,enps}.parquet", {"quarter": quarter, "suppressed": "not null"}, "suppressed")
    reg.add("rows-rejected", "Input rows rejected at ingest (all files)", ingest["rows_rejected"], fmt_int(ingest["rows_rejected"]), "rows", tables["ingest_manifest"], {}, "rows_rejected")
    reg.add("rows-read", "Input rows read (all files)", ingest["rows_read"], fmt_int(ingest["rows_read"]), "rows", tables["ingest_manifest"], {}, "rows_read")
    return reg.records


def write(records: list[dict[str, Any]], out_path: str) -> None:
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(json.dumps(records, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
