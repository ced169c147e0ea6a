"""The `retain` command: run the workflow, generate synthetic data, trace and verify results."""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
from pathlib import Path

from analysis import __version__

MANIFEST = Path("results/audit/manifest.json")


def _synth(args: argparse.Namespace) -> int:
    from analysis.synth import config_from_args, generate

    say = None if args.quiet else (lambda msg: print(f"[synth] {msg}", file=sys.stderr, flush=True))
    summary = generate(config_from_args(args), Path(args.out), progress=say)
    print(json.dumps(summary, indent=1, sort_keys=True, default=str))
    return 0


def _run(args: argparse.Namespace) -> int:
    """Run the Snakemake workflow, then say where the reports are."""
    from analysis import config as cfg

    try:
        config = cfg.load(args.configfile)
    except cfg.ConfigError as exc:
        print(f"retain: {exc}", file=sys.stderr)
        return 2
    overrides = []
    if args.formats:
        report = dict(config["report"], formats=args.formats.split(","))
        config["report"] = report
        cfg.validate(config, args.configfile)
        overrides = ["--config", f"report={json.dumps(report)}"]
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", "workflow/Snakefile",
        "--configfile", args.configfile,
        "--cores", str(args.cores),
        *overrides,
        *args.snakemake_args,
    ]  # fmt: skip
    print("retain: " + " ".join(command[2:]), file=sys.stderr, flush=True)
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        print("retain: the workflow failed; the failing rule's log is under logs/<rule>/", file=sys.stderr)
        return done.returncode
    reports = [
        Path(f"results/reports/{quarter}/quarterly.{fmt}")
        for quarter in cfg.report_quarters(config)
        for fmt in config["report"]["formats"]
    ]
    print("\nReports:")
    for path in reports:
        print(f"  {path.resolve()}" + ("" if path.exists() else "  (missing!)"))
    print(f"Audit manifest: {MANIFEST.resolve()}")
    return 0 if all(p.exists() for p in reports) else 1


def _verify(args: argparse.Namespace) -> int:
    from analysis.audit import verify

    manifest = Path(args.manifest)
    if not manifest.exists():
        print(f"retain verify: no manifest at {manifest}; run the workflow first", file=sys.stderr)
        return 2
    problems = verify(manifest)
    for line in problems:
        print(line)
    if problems:
        print(f"retain verify: {len(problems)} file(s) differ from {manifest}", file=sys.stderr)
        return 1
    data = json.loads(manifest.read_text(encoding="utf-8"))
    print(f"retain verify: all {len(data['inputs'])} inputs and {len(data['outputs'])} outputs match {manifest}")
    return 0


def _trace(args: argparse.Namespace) -> int:
    manifest_path = Path(args.manifest)
    if not manifest_path.exists():
        print(f"retain trace: no manifest at {manifest_path}; run the workflow first", file=sys.stderr)
        return 2
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    ids = {entry["id"]: entry for entry in manifest["ids"]}
    if args.id not in ids:
        near = difflib.get_close_matches(args.id, list(ids), n=5, cutoff=0.5)
        print(f"retain trace: unknown ID {args.id!r}." + (f" Did you mean: {', '.join(near)}?" if near else ""), file=sys.stderr)
        return 2
    entry = ids[args.id]
    hashes = {e["path"]: e["sha256"] for e in manifest["outputs"]}
    print(f"{args.id}")
    print(f"  lives in   {entry['file']}  sha256 {hashes.get(entry['file'], '?')}")
    data = entry["data"]
    print(f"  data       {data}  sha256 {hashes.get(data, '?')}")
    if entry["file"].startswith("results/numbers/"):
        record = next(r for r in json.loads(Path(entry["file"]).read_text(encoding="utf-8")) if r["id"] == args.id)
        print(f"  value      {record['display']}  ({record['label']})")
        print(f"  row filter {json.dumps(record['source']['filter'], sort_keys=True)}  column {record['source']['column']}")
    print(f"  code       git {manifest['code'].get('git_commit')} (dirty: {manifest['code'].get('dirty')})")
    print(f"  config     sha256 {manifest['config']['sha256']}")
    print("  inputs")
    for item in manifest["inputs"]:
        rows = f"  rows read {item['rows_read']}, rejected {item['rows_rejected']}" if "rows_read" in item else ""
        print(f"    {item['path']}  sha256 {item['sha256']}{rows}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retain", description=__doc__)
    parser.add_argument("--version", action="version", version=f"retain {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the workflow (Snakemake) and print where the reports are")
    run.add_argument("--configfile", default="config/config.yaml")
    run.add_argument("--cores", default="all")
    run.add_argument("--formats", help="comma-separated report formats, overriding report.formats (e.g. html)")
    run.add_argument("snakemake_args", nargs=argparse.REMAINDER, help="further arguments for snakemake, after --")
    run.set_defaults(func=_run)

    from analysis.synth import build_arg_parser

    synth = build_arg_parser(sub.add_parser("synth", help="generate a synthetic organisation's exports"))
    synth.set_defaults(func=_synth)

    verify = sub.add_parser("verify", help="re-hash inputs and outputs against the manifest")
    verify.add_argument("--manifest", default=str(MANIFEST))
    verify.set_defaults(func=_verify)

    trace = sub.add_parser("trace", help="print the lineage of a figure or number ID")
    trace.add_argument("id")
    trace.add_argument("--manifest", default=str(MANIFEST))
    trace.set_defaults(func=_trace)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "snakemake_args", None) and args.snakemake_args[0] == "--":
        args.snakemake_args = args.snakemake_args[1:]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
