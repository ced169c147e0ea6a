"""Provenance: the build manifest, the run manifest and their verification.

Two documents, both under results/audit/ and both validated against a JSON schema in
workflow/schemas/:

- **build manifest** (`build_manifest.json`, written before any report is rendered): the code
  version, the config hash, every input file (path, SHA-256, bytes; rows read / accepted /
  rejected for exports), every file the reports are built from (canonical tables, rejects, ingest
  records, analysis tables, numbers, exhibits) and every ID with the file it lives in. It holds
  no timestamp, so a report can state its hash and two runs from the same inputs produce the
  same report.
- **run manifest** (`manifest.json`, written last): all of the above plus Python and package
  versions, the config itself, the reports and the build manifest, and for every output the
  Snakemake rule, inputs, parameters and code hash of the job that wrote it (read from
  Snakemake's own job records, `.snakemake/metadata`, through its persistence API). Its job
  start/end times and its own write time are the only wall-clock times any output holds.

IDs: `fig:<stem>:<label>` (a chart), `tbl:<stem>:<label>` (a table shown in a report),
`num:<name>:<quarter>` (a number), `tab:<name>` (an analysis table, results/tables/<name>.parquet).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from analysis.config import canonical_json, config_hash

MANIFEST_VERSION = 2
BUILD_MANIFEST = "results/audit/build_manifest.json"
RUN_MANIFEST = "results/audit/manifest.json"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the checkout (or install) this code runs from
SCHEMAS = PACKAGE_ROOT / "workflow" / "schemas"
# The only fields of the run manifest that differ between two identical runs.
TIMESTAMP_FIELDS = ("started", "finished", "written")
# Copied from the ingest record of each export into its manifest entry.
ROW_FIELDS = ("profile", "table", "rows_read", "rows_accepted", "rows_rejected", "personal_columns_dropped")
FALLBACK_PACKAGES = ("polars", "pyarrow", "numpy", "scipy", "snakemake", "altair", "vl-convert-python", "nbclient", "nbconvert")
# The params value through which a rule names the code its jobs run (analysis.pipeline.rule_code).
CODE_PARAM_PREFIX = "code-sha256:"
CODE_PARAM = re.compile(r"^'?" + CODE_PARAM_PREFIX + r"([0-9a-f]{64})'?$")
# An ID as a report prints it: kind, a name starting with a letter, and for fig/tbl/num a label.
ID_PATTERN = re.compile(r"\b(?:(?:fig|tbl|num):[a-z][a-z0-9_.-]*:(?:[0-9]{4}Q[1-4]|[a-z][a-z0-9_-]*)|tab:[a-z][a-z0-9-]*)")


class ManifestError(ValueError):
    """A manifest that cannot be written truthfully (e.g. an input changed after it was ingested)."""


# ------------------------------------------------------------------ files


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(path: str) -> dict[str, Any]:
    p = Path(path)
    return {"path": path, "sha256": sha256_file(p), "bytes": p.stat().st_size}


def portable(path: str, root: Path = Path(".")) -> tuple[str, str | None]:
    """(path as the manifest records it, kind override) for a path Snakemake recorded.

    Paths inside the run directory become relative; files of the Retain code itself that the
    rules read (e.g. the message catalogue when the run directory is not the checkout) become
    relative to the code's root, kind "package"; anything else (an export configured with an
    absolute path) stays as it is.
    """
    p = Path(path)
    if not p.is_absolute():
        return path, None
    for base, kind in ((root.resolve(), None), (PACKAGE_ROOT, "package")):
        try:
            return str(p.resolve().relative_to(base)), kind
        except ValueError:
            continue
    return path, None


def resolve(entry: dict[str, Any], root: Path = Path(".")) -> Path:
    """Where a manifest entry's file is: package files under the code's root, the rest under the run directory."""
    return (PACKAGE_ROOT if entry.get("kind") == "package" else root) / entry["path"]


def table_id(path: str) -> str:
    """`tab:<name>` for results/tables/<name>.parquet (underscores become hyphens)."""
    return "tab:" + Path(path).name.removesuffix(".parquet").replace("_", "-")


# ------------------------------------------------------------------ code and environment


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)


def code_version(root: Path = Path("."), with_changes: bool = False) -> dict[str, Any]:
    """The git commit and whether the working tree differs from it (untracked code counts).

    Null when the run directory is not a git checkout of this workflow (e.g. a copy), rather than
    the commit of some enclosing repository.
    """
    try:
        tracked = _git(root, "ls-files", "--error-unmatch", "workflow/Snakefile").returncode == 0
        commit = _git(root, "rev-parse", "HEAD").stdout.strip() if tracked else ""
    except OSError:  # no git on this machine
        commit = ""
    if not commit:
        out: dict[str, Any] = {"git_commit": None, "dirty": None}
        return out | ({"changed_files": []} if with_changes else {})
    status = _git(root, "status", "--porcelain", "--untracked-files=normal").stdout
    changed = sorted(line[3:] for line in status.splitlines() if line.strip())
    out = {"git_commit": commit, "dirty": bool(changed)}
    return out | ({"changed_files": changed} if with_changes else {})


def _package_names() -> list[str]:
    try:
        requirements = metadata.requires("retain") or []
    except metadata.PackageNotFoundError:
        return list(FALLBACK_PACKAGES)
    names = [re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0] for req in requirements if "extra ==" not in req]
    return sorted(set(names))


def _tool_version(command: list[str]) -> str | None:
    if not shutil.which(command[0]):
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def environment() -> dict[str, Any]:
    """Python, the pinned packages as installed, and the renderers found on PATH."""
    from analysis.render import find_chromium

    versions: dict[str, str | None] = {}
    for name in ["retain", *_package_names()]:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    chromium = find_chromium()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
        "tools": {
            "chromium": _tool_version([chromium, "--version"]) if chromium else None,
            "quarto": _tool_version(["quarto", "--version"]),
        },
    }


# ------------------------------------------------------------------ inputs


def _ingest_records(ingest_manifest: str | None) -> dict[str, dict[str, Any]]:
    if not ingest_manifest or not Path(ingest_manifest).exists():
        return {}
    document = json.loads(Path(ingest_manifest).read_text(encoding="utf-8"))
    return {record["file"]: record for record in document.get("files", [])}


def input_entries(exports: Iterable[str], others: Iterable[str], ingest_manifest: str | None) -> list[dict[str, Any]]:
    """One entry per input file: exports carry their ingest row counts; profiles and templates are `kind` profile/other."""
    records = _ingest_records(ingest_manifest)
    entries = {}
    for path in sorted(set(exports)):
        entry = file_entry(path) | {"kind": "export"}
        record = records.get(path)
        if record:
            if record.get("sha256") not in (None, entry["sha256"]):
                raise ManifestError(
                    f"{path} changed after it was ingested (ingested SHA-256 {record['sha256'][:12]}…, now "
                    f"{entry['sha256'][:12]}…); rerun the workflow (snakemake --forcerun ingest_table ingest_survey)"
                )
            entry |= {key: record[key] for key in ROW_FIELDS if key in record}
        entries[path] = entry
    for original in sorted(set(others)):
        path, package = portable(original)
        if path in entries:
            continue
        kind = package or ("profile" if path.startswith("config/profiles/") else "template" if path.endswith(".qmd") else "other")
        entries[path] = file_entry(original) | {"path": path, "kind": kind}
    return [entries[path] for path in sorted(entries)]


# ------------------------------------------------------------------ IDs


def _read_json(path: str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def collect_ids(outputs: Iterable[str], detailed: bool = False) -> list[dict[str, Any]]:
    """Every ID the outputs define, with the file it lives in and its data file.

    Charts (`*.vl.json`, `usermeta.retain.id`), report tables (`*.tbl.json`), numbers
    (results/numbers/*.json) and analysis tables (results/tables/*.parquet). `detailed` adds the
    kind and the source (table files, row filter and column) for the run manifest.
    """
    ids: list[dict[str, Any]] = []
    seen: dict[str, str] = {}

    def add(entry: dict[str, Any], kind: str, source: dict[str, Any]) -> None:
        if entry["id"] in seen:
            raise ManifestError(f"ID {entry['id']} is defined twice: in {seen[entry['id']]} and in {entry['file']}")
        seen[entry["id"]] = entry["file"]
        ids.append(entry | ({"kind": kind, "source": source} if detailed else {}))

    for path in sorted(set(outputs)):
        if path.endswith(".vl.json"):
            meta = _read_json(path).get("usermeta", {}).get("retain", {})
            if "id" in meta:
                sources = {"tables": list(meta.get("source_tables", []))} | ({"filter": meta["filter"]} if "filter" in meta else {})
                add({"id": meta["id"], "file": path, "data": path.removesuffix(".vl.json") + ".parquet"}, "fig", sources)
        elif path.endswith(".tbl.json"):
            meta = _read_json(path)
            if "id" in meta:
                sources = {"tables": list(meta.get("source_tables", []))} | ({"filter": meta["filter"]} if "filter" in meta else {})
                add({"id": meta["id"], "file": path, "data": path.removesuffix(".tbl.json") + ".parquet"}, "tbl", sources)
        elif path.startswith("results/numbers/") and path.endswith(".json"):
            for record in _read_json(path):
                add({"id": record["id"], "file": path, "data": record["source"]["table"]}, "num", record["source"])
        elif path.startswith("results/tables/") and path.endswith(".parquet"):
            add({"id": table_id(path), "file": path, "data": path}, "tab", {"tables": [path], "filter": {}})
    return sorted(ids, key=lambda entry: entry["id"])


def ids_shown_in(report: str) -> set[str]:
    """The ID-shaped strings an HTML report contains (the caller intersects them with known IDs)."""
    return set(ID_PATTERN.findall(Path(report).read_text(encoding="utf-8", errors="replace")))


# ------------------------------------------------------------------ Snakemake's job records


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def split_code_param(params: Iterable[Any]) -> tuple[list[Any], str | None]:
    """(the other params, the code hash) of a job's recorded params.

    Retain's rules are `script:` rules, for which Snakemake records no code; each passes the hash
    of the code its jobs run as a param instead (`code-sha256:<hex>`, analysis.pipeline.rule_code).
    """
    others, code = [], None
    for value in params:
        match = CODE_PARAM.match(value) if isinstance(value, str) else None  # Snakemake records repr(value)
        if match:
            code = match.group(1)
        else:
            others.append(value)
    return others, code


def job_records(paths: Iterable[str], root: Path = Path(".")) -> dict[str, dict[str, Any]]:
    """What Snakemake recorded about the job that wrote each path, keyed by path.

    Read through Snakemake's persistence API (the default file backend under .snakemake/), so
    the record format stays Snakemake's business: rule, inputs, params (as Snakemake serialises
    them), log files, the code and start/end times. The code hash is the job's `code` param
    (split_code_param) or, for a shell or `run:` rule, the hash of the text Snakemake recorded.
    It is what the job ran, recorded when it ran: a later change of the code does not alter it.
    Paths without a record (written outside Snakemake, or a run with --drop-metadata) are left out.
    """
    store_dir = root / ".snakemake"
    if not (store_dir / "metadata").is_dir():
        return {}
    from snakemake.io import IOFile
    from snakemake.persistence.file import FilePersistence

    store = FilePersistence(nolock=True, path=store_dir)
    records = {}
    for path in sorted(set(paths)):
        record = store.metadata(IOFile(path))
        if record is None or record.rule is None:
            continue
        params, code = split_code_param(record.params or [])
        if code is None and record.code:  # a shell or run: rule: Snakemake records its text
            code = hashlib.sha256(record.code.encode("utf-8")).hexdigest()
        records[path] = {
            "rule": record.rule,
            "inputs": sorted({portable(p, root)[0] for p in record.input or []}),
            "raw_inputs": sorted(set(record.input or [])),
            "params": params,
            "log": sorted(record.log or []),
            "code_sha256": code,
            "shellcmd": record.shellcmd,
            "started": _iso(record.starttime),
            "finished": _iso(record.endtime),
        }
    return records


def lineage_closure(targets: Iterable[str], root: Path = Path(".")) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Follow job records from the targets down to files no job wrote.

    Returns (records of every output reached, the leaf files: inputs, profiles, templates).
    """
    records: dict[str, dict[str, Any]] = {}
    leaves: set[str] = set()
    todo = sorted(set(targets))
    seen: set[str] = set()
    while todo:
        found = job_records([p for p in todo if p not in seen], root)
        seen.update(todo)
        nxt = set()
        for path in todo:
            if path in found:
                records[path] = found[path]
                nxt.update(found[path]["raw_inputs"])
            elif not path.startswith("results/"):
                leaves.add(path)
        todo = sorted(nxt - seen)
    return _without_temporary(records, root), leaves


def _without_temporary(records: dict[str, dict[str, Any]], root: Path) -> dict[str, dict[str, Any]]:
    """The records of files that still exist; an input that was a temporary file (temp(), e.g. the
    partial counts of a partitioned stage, deleted once combined) is replaced by what it was made
    from, so every input the manifest names is a file it hashes."""
    gone = {path for path in records if not (root / path).exists()}
    if not gone:
        return records

    def sources(path: str, trail: frozenset[str] = frozenset()) -> set[str]:
        if path not in gone or path in trail:
            return {path}
        return set().union(set(), *(sources(p, trail | {path}) for p in records[path]["raw_inputs"]))

    kept = {}
    for path, record in records.items():
        if path in gone:
            continue
        raw = set().union(set(), *(sources(p) for p in record["raw_inputs"]))
        kept[path] = record | {"raw_inputs": sorted(raw), "inputs": sorted({portable(p, root)[0] for p in raw})}
    return kept


# ------------------------------------------------------------------ the two manifests


def build_manifest(exports: list[str], others: list[str], outputs: list[str], config: dict[str, Any], ingest_manifest: str | None) -> dict[str, Any]:
    """The build manifest: what the reports are built from. No timestamps, no environment."""
    return {
        "code": code_version(),
        "config": {"sha256": config_hash(config)},
        "inputs": input_entries(exports, others, ingest_manifest),
        "outputs": [file_entry(path) for path in sorted(set(outputs))],
        "ids": collect_ids(outputs),
    }


def run_manifest(
    exports: list[str], others: list[str], outputs: list[str], config: dict[str, Any], ingest_manifest: str | None, build_manifest_path: str
) -> dict[str, Any]:
    """The run manifest: everything, with the job that wrote each output."""
    records, leaves = lineage_closure([*outputs, build_manifest_path])
    all_outputs = sorted(set(outputs) | set(records) | {build_manifest_path})
    output_entries = []
    for path in all_outputs:
        record = records.get(path)
        job = {k: record[k] for k in ("rule", "inputs", "params", "log", "code_sha256", "shellcmd", "started", "finished")} if record else {"rule": None}
        output_entries.append(file_entry(path) | job)
    reports = [path for path in all_outputs if path.startswith("results/reports/") and path.endswith(".html")]
    shown = {report: ids_shown_in(report) for report in reports}
    ids = [entry | {"reports": [r for r in reports if entry["id"] in shown[r]]} for entry in collect_ids(all_outputs, detailed=True)]
    return {
        "manifest_version": MANIFEST_VERSION,
        "run": {"written": _iso(dt.datetime.now(dt.timezone.utc).timestamp())},
        "code": code_version(with_changes=True),
        "environment": environment(),
        "config": {"sha256": config_hash(config), "content": json.loads(canonical_json(config))},
        "build_manifest": {"path": build_manifest_path, "sha256": sha256_file(build_manifest_path)},
        "inputs": input_entries(exports, set(others) | leaves, ingest_manifest),
        "outputs": output_entries,
        "ids": ids,
    }


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def validate(document: dict[str, Any], schema_name: str) -> None:
    """Validate against workflow/schemas/<schema_name> (the run manifest's schema refers to the build manifest's)."""
    import jsonschema
    from referencing import Registry, Resource

    schemas = [schema(name) for name in ("build_manifest.schema.json", "manifest.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    validator = jsonschema.Draft202012Validator(schema(schema_name), registry=registry)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top)"
        raise ManifestError(f"{schema_name}: {len(errors)} problem(s); first at {where}: {errors[0].message}")


def write_json(document: Any, out_path: str) -> None:
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def write_build_manifest(exports: list[str], others: list[str], outputs: list[str], config: dict[str, Any], ingest_manifest: str | None, out_path: str) -> dict[str, Any]:
    document = build_manifest(exports, others, outputs, config, ingest_manifest)
    validate(document, "build_manifest.schema.json")
    write_json(document, out_path)
    return document


def write_run_manifest(
    exports: list[str], others: list[str], outputs: list[str], config: dict[str, Any], ingest_manifest: str | None, build_manifest_path: str, out_path: str
) -> dict[str, Any]:
    document = run_manifest(exports, others, outputs, config, ingest_manifest, build_manifest_path)
    validate(document, "manifest.schema.json")
    write_json(document, out_path)
    return document


def without_timestamps(document: Any) -> Any:
    """The manifest minus its wall-clock fields: equal for two runs from the same inputs, config and code."""
    if isinstance(document, dict):
        return {k: without_timestamps(v) for k, v in document.items() if k not in TIMESTAMP_FIELDS}
    if isinstance(document, list):
        return [without_timestamps(v) for v in document]
    return document


# ------------------------------------------------------------------ verify


def verify(manifest_path: str | Path, root: Path = Path(".")) -> list[str]:
    """Re-hash every input and output the manifest lists; one line per difference (empty: all match)."""
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    problems = []
    for section in ("inputs", "outputs"):
        kind = section[:-1]
        for entry in manifest[section]:
            path = resolve(entry, root)
            if not path.is_file():
                problems.append(f"{kind} missing: {entry['path']}")
                continue
            actual = sha256_file(path)
            if actual != entry["sha256"]:
                size = path.stat().st_size
                sizes = "" if size == entry.get("bytes", size) else f"; {entry['bytes']} bytes then, {size} now"
                problems.append(f"{kind} changed: {entry['path']} (manifest {entry['sha256'][:12]}…, now {actual[:12]}…{sizes})")
    built = manifest.get("build_manifest")
    if built and (root / built["path"]).is_file() and sha256_file(root / built["path"]) != built["sha256"]:
        line = f"output changed: {built['path']}"
        if not any(p.startswith(line) for p in problems):
            problems.append(line + " (differs from the hash the run manifest recorded)")
    return problems
