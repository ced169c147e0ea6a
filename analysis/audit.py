"""The run manifest (results/audit/manifest.json) and its verification.

The manifest records the code version (git commit and whether the tree was dirty), Python and
package versions, the config and its hash, every input file (path, SHA-256, bytes, rows
read/accepted/rejected), every output (path, SHA-256, bytes) and every figure and number ID with
the file it lives in. It holds no wall-clock time and no absolute path, so two runs from the same
inputs, config and code write the same manifest.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from analysis.config import canonical_json, config_hash
from analysis.ingest import sha256_file

MANIFEST_VERSION = 1
PACKAGES = ("polars", "pyarrow", "numpy", "scipy", "snakemake", "altair", "vl-convert-python", "nbclient", "nbconvert", "lifelines", "statsmodels", "differences")


def code_version(repo: Path = Path(".")) -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {"git_commit": None, "dirty": None, "note": "not a git checkout"}
    # Only tracked code and config count; results/ and logs/ are ignored by .gitignore.
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"git_commit": commit, "dirty": dirty}


def environment() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "packages": versions}


def _file_entry(path: str) -> dict[str, Any]:
    p = Path(path)
    return {"path": path, "sha256": sha256_file(p), "bytes": p.stat().st_size}


def _ids(outputs: list[str]) -> list[dict[str, str]]:
    ids = []
    for path in outputs:
        if path.endswith(".vl.json"):
            meta = json.loads(Path(path).read_text(encoding="utf-8")).get("usermeta", {}).get("retain", {})
            if "id" in meta:
                ids.append({"id": meta["id"], "file": path, "data": path.replace(".vl.json", ".parquet")})
        elif path.startswith("results/numbers/") and path.endswith(".json"):
            for record in json.loads(Path(path).read_text(encoding="utf-8")):
                ids.append({"id": record["id"], "file": path, "data": record["source"]["table"]})
    return sorted(ids, key=lambda entry: entry["id"])


def build_manifest(inputs: list[str], outputs: list[str], config: dict[str, Any]) -> dict[str, Any]:
    ingest_stats = {}
    stats_path = Path("results/ingest/manifest.json")
    for directory in (Path("results/ingest"),):
        for path in sorted(directory.glob("*.json")):
            if path != stats_path:
                stats = json.loads(path.read_text(encoding="utf-8"))
                ingest_stats[stats["file"]] = stats
    input_entries = []
    for path in sorted(inputs):
        entry = _file_entry(path)
        stats = ingest_stats.get(path)
        if stats:
            entry |= {k: stats[k] for k in ("profile", "table", "rows_read", "rows_accepted", "rows_rejected", "personal_columns_dropped")}
        input_entries.append(entry)
    return {
        "manifest_version": MANIFEST_VERSION,
        "code": code_version(),
        "environment": environment(),
        "config": {"sha256": config_hash(config), "content": json.loads(canonical_json(config))},
        "inputs": input_entries,
        "outputs": [_file_entry(path) for path in sorted(outputs)],
        "ids": _ids(sorted(outputs)),
    }


def write_manifest(inputs: list[str], outputs: list[str], config: dict[str, Any], out_path: str) -> dict[str, Any]:
    manifest = build_manifest(inputs, outputs, config)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def verify(manifest_path: str | Path, root: Path = Path(".")) -> list[str]:
    """Re-hash every input and output listed; return one line per difference (empty = all match)."""
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    problems = []
    for section in ("inputs", "outputs"):
        for entry in manifest[section]:
            path = root / entry["path"]
            if not path.exists():
                problems.append(f"{section[:-1]} missing: {entry['path']}")
                continue
            actual = sha256_file(path)
            if actual != entry["sha256"]:
                problems.append(f"{section[:-1]} changed: {entry['path']} (manifest {entry['sha256'][:12]}…, now {actual[:12]}…)")
    return problems
