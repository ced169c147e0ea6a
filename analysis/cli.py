"""The `retain` command: run the workflow, generate synthetic data, trace and verify results."""

from __future__ import annotations

import argparse
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
    from analysis.pipeline import research_outputs

    reports += [Path(path) for path in research_outputs().values()]
    print("\nReports:")
    for path in reports:
        print(f"  {path.resolve()}" + ("" if path.exists() else "  (missing!)"))
    print(f"Audit manifest: {MANIFEST.resolve()}")
    return 0 if all(p.exists() for p in reports) else 1


def _verify(args: argparse.Namespace) -> int:
    """Re-hash every input and output against the manifest; name each file that differs."""
    from analysis.audit import verify

    manifest = Path(args.manifest)
    if not manifest.exists():
        print(f"retain verify: no manifest at {manifest}; run the workflow first", file=sys.stderr)
        return 2
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        problems = verify(manifest)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        print(f"retain verify: {manifest} is not a readable manifest ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    for line in problems:
        print(line)
    if problems:
        print(f"retain verify: {len(problems)} file(s) differ from {manifest}", file=sys.stderr)
        return 1
    print(f"retain verify: all {len(data['inputs'])} inputs and {len(data['outputs'])} outputs match {manifest}")
    return 0


def _trace(args: argparse.Namespace) -> int:
    """Print the lineage of an ID; with --rows, write the canonical rows it was computed from."""
    from analysis.trace import RowsRefused, TraceError, UnknownId, load_manifest, trace

    try:
        manifest = load_manifest(args.manifest)
    except TraceError as exc:
        print(f"retain trace: {exc}", file=sys.stderr)
        return 2
    if args.list or not args.id:
        ids = [e["id"] for e in manifest["ids"] if not args.id or args.id in e["id"]]
        print("\n".join(ids))
        return 0 if ids else 2
    try:
        lines = trace(manifest, args.id, Path("."), Path(args.rows) if args.rows else None)
    except UnknownId as exc:
        print(f"retain trace: {exc}", file=sys.stderr)
        return 2
    except RowsRefused as exc:
        print(f"retain trace: {exc}", file=sys.stderr)
        return 3
    except TraceError as exc:
        print(f"retain trace: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
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

    trace = sub.add_parser("trace", help="print the lineage of a figure, table or number ID down to the input files and rows")
    trace.add_argument("id", nargs="?", help="e.g. num:voluntary-turnover:2026Q3, fig:turnover-trend:2026Q3, tab:turnover")
    trace.add_argument("--manifest", default=str(MANIFEST))
    trace.add_argument("--rows", metavar="FILE", help="write the contributing canonical rows (pseudonymised) to FILE (.csv or .parquet)")
    trace.add_argument("--list", action="store_true", help="list the IDs in the manifest (containing ID, if given)")
    trace.set_defaults(func=_trace)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "snakemake_args", None) and args.snakemake_args[0] == "--":
        args.snakemake_args = args.snakemake_args[1:]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
