"""Audit: manifests and their schemas, Snakemake's job records, verify, row tracing, PDF dates.

The whole workflow's audit trail (every ID traced, byte-identical reruns) is tested end to end in
tests/test_reproducible.py.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from analysis import audit, trace
from analysis.render import normalise_pdf

SHA = "a" * 64


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ schemas


def build_doc() -> dict:
    return {
        "code": {"git_commit": None, "dirty": None},
        "config": {"sha256": SHA},
        "inputs": [
            {"path": "data/demo/hris_roster.csv", "sha256": SHA, "bytes": 10, "kind": "export", "rows_read": 3, "rows_accepted": 3, "rows_rejected": 0},
            {"path": "config/profiles/generic_roster.yaml", "sha256": SHA, "bytes": 5, "kind": "profile"},
        ],
        "outputs": [{"path": "results/tables/turnover.parquet", "sha256": SHA, "bytes": 7}],
        "ids": [{"id": "tab:turnover", "file": "results/tables/turnover.parquet", "data": "results/tables/turnover.parquet"}],
    }


def test_build_manifest_schema_accepts_the_agreed_shape_and_nothing_else():
    audit.validate(build_doc(), "build_manifest.schema.json")
    for broken in (
        build_doc() | {"run": {"written": "2026-01-01T00:00:00Z"}},  # no timestamps, no extra keys
        build_doc() | {"outputs": [{"path": "/tmp/x/results/a.parquet", "sha256": SHA, "bytes": 1}]},  # absolute path
        build_doc() | {"outputs": [{"path": "../results/a.parquet", "sha256": SHA, "bytes": 1}]},
        build_doc() | {"ids": [{"id": "figure 1", "file": "results/a.json", "data": "results/a.parquet"}]},
        build_doc() | {"config": {"sha256": "not-a-hash"}},
    ):
        with pytest.raises(audit.ManifestError):
            audit.validate(broken, "build_manifest.schema.json")


def test_run_manifest_schema_requires_the_job_behind_every_output():
    doc = build_doc()
    output = doc["outputs"][0] | {"rule": "compute_turnover", "inputs": ["results/canonical/employees.parquet"], "params": [], "log": [], "code_sha256": SHA, "shellcmd": None, "started": "2026-01-01T00:00:00Z", "finished": "2026-01-01T00:00:01Z"}
    run = {
        "manifest_version": 2,
        "run": {"written": "2026-01-01T00:00:02Z"},
        "code": {"git_commit": None, "dirty": None, "changed_files": []},
        "environment": {"python": "3.11.7", "implementation": "CPython", "platform": "Linux", "packages": {"polars": "2.1.0"}, "tools": {"chromium": None, "quarto": None}},
        "config": {"sha256": SHA, "content": {}},
        "build_manifest": {"path": "results/audit/build_manifest.json", "sha256": SHA},
        "inputs": doc["inputs"],
        "outputs": [output],
        "ids": [doc["ids"][0] | {"kind": "tab", "source": {"tables": ["results/tables/turnover.parquet"]}, "reports": []}],
    }
    audit.validate(run, "manifest.schema.json")
    without_rule = run | {"outputs": [{k: v for k, v in output.items() if k != "rule"}]}
    with pytest.raises(audit.ManifestError, match="rule"):
        audit.validate(without_rule, "manifest.schema.json")
    assert audit.without_timestamps(run)["run"] == {} and "started" not in audit.without_timestamps(run)["outputs"][0]


# ------------------------------------------------------------------ inputs, IDs, code version


def test_input_entries_carry_ingest_row_counts_and_refuse_a_changed_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("data").mkdir()
    Path("data/in.csv").write_text("a\n1\n2\n")
    Path("profile.yaml").write_text("x: 1\n")
    record = {"file": "data/in.csv", "sha256": sha(Path("data/in.csv")), "profile": "p", "table": "employees", "rows_read": 2, "rows_accepted": 2, "rows_rejected": 0, "other": "dropped"}
    Path("ingest.json").write_text(json.dumps({"files": [record]}))
    entries = audit.input_entries(["data/in.csv"], ["profile.yaml"], "ingest.json")
    assert entries[0] == {"path": "data/in.csv", "sha256": record["sha256"], "bytes": 6, "kind": "export", "profile": "p", "table": "employees", "rows_read": 2, "rows_accepted": 2, "rows_rejected": 0}
    assert entries[1]["kind"] == "other" and entries[1]["path"] == "profile.yaml"
    Path("data/in.csv").write_text("a\n1\n3\n")
    with pytest.raises(audit.ManifestError, match="data/in.csv changed after it was ingested"):
        audit.input_entries(["data/in.csv"], [], "ingest.json")


def test_collect_ids_finds_every_kind_and_rejects_duplicates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for d in ("results/figures/2026Q3", "results/numbers", "results/tables"):
        Path(d).mkdir(parents=True)
    Path("results/figures/2026Q3/trend.vl.json").write_text(json.dumps({"usermeta": {"retain": {"id": "fig:trend:2026Q3", "source_tables": ["turnover"]}}}))
    Path("results/figures/2026Q3/summary.tbl.json").write_text(json.dumps({"id": "tbl:summary:2026Q3", "source_tables": ["turnover"]}))
    number = {"id": "num:headcount:2026Q3", "source": {"table": "results/tables/turnover.parquet", "filter": {"quarter": "2026Q3"}, "column": "headcount_end"}}
    Path("results/numbers/2026Q3.json").write_text(json.dumps([number]))
    Path("results/tables/response_rates.parquet").write_bytes(b"PAR1")
    outputs = [str(p) for p in Path("results").rglob("*") if p.is_file()]
    ids = audit.collect_ids(outputs)
    assert [e["id"] for e in ids] == ["fig:trend:2026Q3", "num:headcount:2026Q3", "tab:response-rates", "tbl:summary:2026Q3"]
    assert ids[0] == {"id": "fig:trend:2026Q3", "file": "results/figures/2026Q3/trend.vl.json", "data": "results/figures/2026Q3/trend.parquet"}
    assert audit.collect_ids(outputs, detailed=True)[1]["source"] == number["source"]
    Path("results/numbers/2026Q4.json").write_text(json.dumps([number]))
    with pytest.raises(audit.ManifestError, match="defined twice"):
        audit.collect_ids([*outputs, "results/numbers/2026Q4.json"])


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=T", *args], check=True, capture_output=True)


def test_code_version_names_the_commit_and_sees_changed_and_untracked_code(tmp_path):
    assert audit.code_version(tmp_path) == {"git_commit": None, "dirty": None}
    (tmp_path / "workflow").mkdir()
    (tmp_path / "workflow/Snakefile").write_text("# rules\n")
    (tmp_path / ".gitignore").write_text("results/\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "init")
    clean = audit.code_version(tmp_path, with_changes=True)
    assert len(clean["git_commit"]) == 40 and clean["dirty"] is False and clean["changed_files"] == []
    (tmp_path / "results").mkdir()
    (tmp_path / "results/out.txt").write_text("ignored output")
    assert audit.code_version(tmp_path)["dirty"] is False
    (tmp_path / "new_module.py").write_text("x = 1\n")
    assert audit.code_version(tmp_path, with_changes=True) == clean | {"dirty": True, "changed_files": ["new_module.py"]}


# ------------------------------------------------------------------ Snakemake's job records


def test_job_records_come_from_snakemake_and_lead_down_to_the_inputs(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data/in.csv").write_text("a\n1\n")
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            """
            rule all:
                input: "results/b.txt"

            rule make_a:
                input: "data/in.csv"
                output: "results/a.txt"
                params: factor=2
                shell: "cp {input} {output}"

            rule make_b:
                input: a="results/a.txt", also="data/in.csv"
                output: "results/b.txt"
                log: "logs/make_b.log"
                run:
                    shell("cat {input.a} > {output} 2> {log}")
            """
        )
    )
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    records = audit.job_records(["results/a.txt", "results/b.txt", "data/in.csv"], root=tmp_path)
    assert set(records) == {"results/a.txt", "results/b.txt"}
    a, b = records["results/a.txt"], records["results/b.txt"]
    assert a["rule"] == "make_a" and a["inputs"] == ["data/in.csv"] and a["params"] == ["2"] and a["shellcmd"] == "cp data/in.csv results/a.txt"
    assert b["rule"] == "make_b" and b["inputs"] == ["data/in.csv", "results/a.txt"] and b["log"] == ["logs/make_b.log"]
    assert len(b["code_sha256"]) == 64 and b["started"].endswith("Z")
    found, leaves = audit.lineage_closure(["results/b.txt"], root=tmp_path)
    assert set(found) == {"results/a.txt", "results/b.txt"} and leaves == {"data/in.csv"}
    assert audit.job_records(["results/a.txt"], root=tmp_path / "data") == {}  # no .snakemake there: no records, no error


def test_script_rules_record_the_code_they_ran_as_a_param(tmp_path):
    """Retain's rules are script: rules (Snakemake records no code for them); each passes the hash
    of the code its jobs run as its `code` param, which the manifest reports as code_sha256."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts/copy.py").write_text("open(snakemake.output[0], 'w').write(snakemake.params.factor)\n")
    code = "ab" * 32
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            f"""
            rule make:
                output: "results/a.txt"
                params: code="code-sha256:{code}", factor="2"
                script: "scripts/copy.py"
            """
        )
    )
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    record = audit.job_records(["results/a.txt"], root=tmp_path)["results/a.txt"]
    assert record["code_sha256"] == code and record["params"] == ["'2'"]
    assert audit.split_code_param(["'x'", f"'code-sha256:{code}'"]) == (["'x'"], code)


def test_a_temporary_input_is_replaced_by_what_it_was_made_from(tmp_path):
    """Partial counts are temp() files, deleted once combined: the manifest names their sources."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data/in.csv").write_text("a\n1\n")
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            """
            rule all:
                input: "results/b.txt"

            rule part:
                input: "data/in.csv"
                output: temp("results/partials/a.txt")
                shell: "cp {input} {output}"

            rule combine:
                input: part="results/partials/a.txt", other="data/in.csv"
                output: "results/b.txt"
                shell: "cat {input.part} > {output}"
            """
        )
    )
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "results/partials/a.txt").exists()
    found, leaves = audit.lineage_closure(["results/b.txt"], root=tmp_path)
    assert set(found) == {"results/b.txt"} and leaves == {"data/in.csv"}
    assert found["results/b.txt"]["inputs"] == ["data/in.csv"] and found["results/b.txt"]["rule"] == "combine"


def test_every_rule_is_a_script_rule_naming_its_own_code():
    """Each rule runs workflow/scripts/run_rule.py with `code=rule_code("<its own name>")`, and
    analysis/pipeline.py RULES says what each one calls (no rule without, none left over)."""
    import re

    from analysis import pipeline

    rules_dir = Path(audit.__file__).resolve().parents[1] / "workflow" / "rules"
    found = {}
    for path in sorted(rules_dir.glob("*.smk")):
        for block in re.split(r"(?m)^(?=rule \w+:)", path.read_text(encoding="utf-8"))[1:]:
            name = re.match(r"rule (\w+):", block).group(1)
            found[name] = block
    assert set(found) == set(pipeline.RULES), f"rules without a RULES entry or entries without a rule: {set(found) ^ set(pipeline.RULES)}"
    for name, block in found.items():
        assert "\n    run:" not in block and re.search(r"\n    script:\n        RUN_RULE\n", block), name
        assert re.findall(r'code=rule_code\("(\w+)"\)', block) == [name], name


def test_rule_code_changes_with_exactly_the_modules_a_rule_runs(tmp_path, monkeypatch):
    from analysis import pipeline

    package = tmp_path / "analysis"
    shutil.copytree(Path(pipeline.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    script = tmp_path / "run_rule.py"
    script.write_text("# script\n")
    monkeypatch.setattr(pipeline, "PACKAGE_DIR", package)

    def codes() -> dict[str, str]:
        pipeline._module_ast.cache_clear()
        pipeline._closure_of.cache_clear()
        return {rule: pipeline.rule_code(rule, script) for rule in ("compute_turnover", "rank_drivers", "build_figures", "ingest_table")}

    before = codes()
    assert all(c.startswith("code-sha256:") and len(c) == 12 + 64 for c in before.values()) and len(set(before.values())) == 4
    (package / "drivers.py").write_text((package / "drivers.py").read_text() + "\n# changed\n")
    after = codes()
    assert [r for r in before if before[r] != after[r]] == ["rank_drivers"]
    (package / "privacy.py").write_text((package / "privacy.py").read_text() + "\n# changed\n")  # imported by turnover and drivers
    again = codes()
    assert [r for r in after if after[r] != again[r]] == ["compute_turnover", "rank_drivers"]
    (package / "figures.py").write_text((package / "figures.py").read_text() + "\n# changed\n")  # named only in the exhibit registry
    assert [r for r, c in codes().items() if c != again[r]] == ["build_figures"]
    script.write_text("# script, changed\n")
    assert all(c != again[r] for r, c in codes().items())


# ------------------------------------------------------------------ verify


def test_verify_names_exactly_the_changed_or_missing_file(tmp_path):
    for name in ("in.csv", "out.parquet", "other.json"):
        (tmp_path / name).write_bytes(b"0123456789")
    manifest = {
        "inputs": [audit.file_entry(str(tmp_path / "in.csv")) | {"path": "in.csv"}],
        "outputs": [audit.file_entry(str(tmp_path / p)) | {"path": p} for p in ("out.parquet", "other.json")],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert audit.verify(tmp_path / "manifest.json", root=tmp_path) == []
    data = bytearray((tmp_path / "out.parquet").read_bytes())
    data[3] ^= 0x01
    (tmp_path / "out.parquet").write_bytes(bytes(data))
    (tmp_path / "in.csv").unlink()
    problems = audit.verify(tmp_path / "manifest.json", root=tmp_path)
    assert problems[0] == "input missing: in.csv"
    assert problems[1].startswith("output changed: out.parquet (manifest ") and len(problems) == 2


# ------------------------------------------------------------------ trace helpers


def test_near_matches_suggest_spellings_other_quarters_and_names():
    known = ["num:headcount:2026Q3", "num:headcount-change:2026Q3", "num:voluntary-turnover:2026Q3", "fig:turnover-trend:2026Q3", "tab:turnover"]
    assert trace.near_matches("num:headcont:2026Q3", known)[0] == "num:headcount:2026Q3"
    assert trace.near_matches("num:voluntary-turnover:2025Q3", known)[0] == "num:voluntary-turnover:2026Q3"
    assert "tab:turnover" in trace.near_matches("turnover", known)
    with pytest.raises(trace.UnknownId, match="Nearest IDs:\n  num:headcount:2026Q3"):
        trace.find_id({"ids": [{"id": k} for k in known]}, "num:headcont:2026Q3")


def test_filter_expressions_follow_the_number_records():
    table = pl.DataFrame({"level": ["organisation", "team", "team"], "team": [None, "A", "B"], "suppressed": [None, None, "n<5"]})
    pick = lambda f: table.filter(trace.filter_expr(f, table.columns, "t")).height  # noqa: E731
    assert pick({"level": "team"}) == 2 and pick({"team": None}) == 1 and pick({"suppressed": "not null"}) == 1
    assert pick({"team": ["A", "B"], "suppressed": None}) == 1
    assert trace.describe_filter({"level": "team", "suppressed": "not null", "team": ["A", "B"]}) == "level = team and suppressed is not null and team in (A, B)"
    with pytest.raises(trace.TraceError, match="column 'driver'"):
        trace.filter_expr({"driver": "mission"}, table.columns, "results/tables/t.parquet")
    assert trace.expand_braces("results/tables/{a,b}.parquet") == ["results/tables/a.parquet", "results/tables/b.parquet"]


def test_rows_are_refused_for_hidden_cells_and_small_groups():
    rows = pl.DataFrame({"canonical_table": ["employees"] * 3, "cell": ["team A", "team A", "team B"], "person": ["k1", "k2", "k3"]})
    sizes = pl.DataFrame({"cell": ["team A", "team B"], "people": [2, 1]})
    ok = trace.Contributing(rows, sizes, pl.DataFrame(), [])
    trace.check_privacy(ok, min_group_size=1)
    with pytest.raises(trace.RowsRefused, match="fewer than privacy.min_group_size = 3 people"):
        trace.check_privacy(ok, min_group_size=3)
    hidden = pl.DataFrame({"level": ["team"], "team": ["B"], "quarter": ["2026Q3"], "suppressed": ["n<5"]})
    with pytest.raises(trace.RowsRefused, match="hides 1 of the selected cells.*team=B quarter=2026Q3 \\(n<5\\)"):
        trace.check_privacy(trace.Contributing(rows, sizes, hidden, []), min_group_size=1)


def test_turnover_rows_are_the_spells_behind_the_cell(tmp_path):
    from analysis.turnover import turnover_table

    (tmp_path / "results/canonical").mkdir(parents=True)
    employees = pl.DataFrame(
        {
            "employee_key": [f"k{i}" for i in range(8)],
            "spell": [1] * 8,
            "hire_date": [date(2020, 1, 1)] * 6 + [date(2026, 8, 1), date(2026, 10, 1)],
            "exit_date": [None, None, None, date(2026, 7, 15), date(2026, 5, 1), None, None, None],
            "exit_type": [None, None, None, "voluntary", "voluntary", None, None, None],
            "team": ["A", "A", "B", "A", "B", "B", "A", "A"],
            "site": ["S"] * 8,
            "source_file": ["data/roster.csv"] * 8,
            "source_row": list(range(2, 10)),
        }
    )
    employees.write_parquet(tmp_path / "results/canonical/employees.parquet")
    table = turnover_table(employees.lazy(), ["2026Q3"], 3)
    cell = table.filter((pl.col("level") == "team") & (pl.col("team") == "A"))
    result = trace.contributing([trace.Selection("results/tables/turnover.parquet", "team A", cell)], tmp_path, {})
    # k4 left before the quarter, k7 was hired after it: neither feeds team A's 2026Q3 cell
    assert result.rows["employee_key"].to_list() == ["k0", "k1", "k3", "k6"]
    assert result.rows["source_row"].to_list() == [2, 3, 5, 8]
    assert result.group_sizes.to_dicts() == [{"cell": "team quarter=2026Q3 site=S team=A", "people": 4}]


# ------------------------------------------------------------------ reproducible PDFs


def test_pdf_dates_are_replaced_in_place_without_moving_a_byte(tmp_path):
    body = (
        b"%PDF-1.4\n1 0 obj\n<</Producer (Skia/PDF m156)\n/CreationDate (D:20261122124739+01'00')\n/ModDate (D:20261122124739Z)>>\nendobj\n"
        b"<xmp:CreateDate>2026-11-22T12:47:39.25-05:00</xmp:CreateDate>\nxref\n0 2\ntrailer\n<</Info 1 0 R>>\nstartxref\n9\n%%EOF\n"
    )
    (tmp_path / "a.pdf").write_bytes(body)
    assert normalise_pdf(tmp_path / "a.pdf", epoch=0) == 3
    fixed = (tmp_path / "a.pdf").read_bytes()
    assert len(fixed) == len(body)
    assert b"/CreationDate (D:19700101000000+00'00')" in fixed and b"/ModDate (D:19700101000000Z)" in fixed
    assert b"<xmp:CreateDate>1970-01-01T00:00:00.00+00:00</xmp:CreateDate>" in fixed
    assert normalise_pdf(tmp_path / "a.pdf", epoch=0) == 3 and (tmp_path / "a.pdf").read_bytes() == fixed


def test_chromium_structure_ids_are_renumbered_in_order_without_moving_a_byte(tmp_path):
    # Chromium names tagged-PDF structure elements after DOM node ids, which vary between runs of
    # the same page; two prints that differ only in those ids must become the same bytes.
    def pdf(ids):
        a, b, c = (b"%08d" % i for i in ids)
        return (
            b"%PDF-1.4\n4 0 obj\n<</Type /StructElem /S /P /ID (node" + a + b")>>\nendobj\n"
            b"5 0 obj\n<</Type /StructElem /S /Figure /ID (node" + b + b")>>\nendobj\n"
            b"6 0 obj\n<</Type /StructElem /S /P /ID (node" + c + b")>>\nendobj\n"
            b"7 0 obj\n<</Names [(node" + a + b") 4 0 R (node" + b + b") 5 0 R (node" + c + b") 6 0 R]>>\nendobj\n%%EOF\n"
        )

    (tmp_path / "a.pdf").write_bytes(pdf((412, 977, 1203)))
    (tmp_path / "b.pdf").write_bytes(pdf((388, 1020, 1301)))
    for name in ("a.pdf", "b.pdf"):
        normalise_pdf(tmp_path / name, epoch=0)
    fixed = (tmp_path / "a.pdf").read_bytes()
    assert fixed == (tmp_path / "b.pdf").read_bytes() == pdf((1, 2, 3))  # same length, references kept


def test_pdf_date_follows_source_date_epoch(tmp_path, monkeypatch):
    (tmp_path / "a.pdf").write_bytes(b"/CreationDate (D:20261122124739+00'00')")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(1767225600))  # 2026-01-01
    normalise_pdf(tmp_path / "a.pdf")
    assert (tmp_path / "a.pdf").read_bytes() == b"/CreationDate (D:20260101000000+00'00')"


def test_snakemake_report_wraps_every_exhibit_file():
    from analysis import pipeline
    from analysis.exhibits import registered

    items = pipeline.exhibit_report_items("quarterly", "{quarter}")
    assert {k: v[0] for k, v in items.items()} == pipeline.exhibit_outputs("quarterly", "{quarter}")
    workflow = Path(audit.__file__).resolve().parents[1] / "workflow" / "rules"
    for path, flags in items.values():
        assert (workflow / flags["caption"]).resolve().is_file(), flags["caption"]
        assert flags["labels"]["ID"].endswith(":{quarter}") and flags["category"] in ("Figures", "Report tables")
    charts = [e.stem for e in registered("quarterly") if e.kind == "fig"]
    assert all(items[f"fig_{stem.replace('-', '_')}_svg"][1]["caption"] == f"../report/figures/{stem}.rst" for stem in charts)
    assert os.path.basename(items[f"fig_{charts[0].replace('-', '_')}_svg"][0]).endswith(".svg")
