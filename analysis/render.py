"""Render a Quarto ``.qmd`` report with parameters.

Two engines produce the same outputs:

``quarto``
    The real Quarto CLI (``quarto render … --to html|typst -P name:value``), used whenever
    ``quarto`` is on PATH.  PDF comes from Quarto's Typst output.

``jupyter``
    A fallback for machines without Quarto: a small reader turns the ``.qmd`` into an
    nbformat v4 notebook (front matter, ```` ```{python} ```` cells with ``#|`` options,
    markdown, Quarto fenced divs), injects the parameters papermill-style, executes it with
    nbclient on the *current* interpreter, and exports self-contained, offline HTML with
    nbconvert.  PDF is that HTML (rendered with ``output_format="pdf"``) printed by headless
    Chromium.

Every render happens in a private copy of the template's directory under ``out_dir`` so that
several renders of one template (different quarters) can run at the same time; the result is
moved to ``out_dir/<output_stem>.<ext>``.

The renderer always passes two extra parameters, ``output_format`` (``"html"``/``"pdf"``) and
``render_engine`` (``"quarto"``/``"jupyter"``); templates declare them in their parameters cell.

Template-authoring notes (both engines):

* PDF-only content: use ``::: {.content-visible when-format="typst"}`` (or
  ``unless-format="html"``).  Quarto's ``pdf`` alias means LaTeX, so under the real Quarto
  ``when-format="pdf"`` does *not* match Typst output; the jupyter engine accepts both.
* ``output: asis`` cells print markdown; ``#| label: fig-…`` + ``#| fig-cap:`` give numbered
  captions and ``@fig-…`` cross-references (``tbl-`` likewise).
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import html as _html
import json
import math
import mimetypes
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

__all__ = [
    "RenderError",
    "RenderResult",
    "FORMATS",
    "RESERVED_PARAMS",
    "find_chromium",
    "offline_violations",
    "parse_qmd",
    "quarto_command",
    "render",
    "resolve_engine",
]

#: Output formats the renderer knows, with their file extension.
FORMATS: dict[str, str] = {"html": "html", "pdf": "pdf"}
#: ``--to`` value passed to Quarto for each format.
QUARTO_TO: dict[str, str] = {"html": "html", "pdf": "typst"}
#: Parameters the renderer always sets itself.
RESERVED_PARAMS: tuple[str, ...] = ("output_format", "render_engine")
#: Chromium executables tried, in order (``RETAIN_CHROMIUM`` overrides).
CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

QUARTO_INSTALL_HINT = (
    "Install Quarto into the project environment (conda: `conda install -c conda-forge quarto`, "
    "as pinned in environment.yml) or with the installer from https://quarto.org/docs/get-started/, "
    "then make sure `quarto` is on PATH; or render with engine='auto'/'jupyter'."
)

_DEFAULT_CELL_TIMEOUT = 600.0
_CHROMIUM_TIMEOUT = 300.0
_STDERR_TAIL_LINES = 40


# --------------------------------------------------------------------------------------------
# Public types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderResult:
    engine: str  # "quarto" or "jupyter"
    outputs: dict[str, Path]  # format -> written file
    commands: list[list[str]] = field(default_factory=list)  # subprocess commands run (quarto / chromium)


class RenderError(RuntimeError):
    """A render failed; the message names the engine, the .qmd and (for subprocesses) the stderr tail."""


def resolve_engine(engine: str = "auto") -> str:
    """Return ``"quarto"`` or ``"jupyter"`` for ``engine`` in ``{"auto", "quarto", "jupyter"}``."""
    if engine == "auto":
        return "quarto" if shutil.which("quarto") else "jupyter"
    if engine == "quarto":
        if not shutil.which("quarto"):
            raise RenderError(f"engine 'quarto' was requested but `quarto` is not on PATH. {QUARTO_INSTALL_HINT}")
        return "quarto"
    if engine == "jupyter":
        return "jupyter"
    raise ValueError(f"unknown render engine {engine!r}; expected 'auto', 'quarto' or 'jupyter'")


def quarto_command(
    qmd: Path, fmt: str, output_name: str, params: Mapping[str, object], metadata: Mapping[str, object] | None = None
) -> list[str]:
    """The exact ``quarto render`` command for one format.

    ``output_name`` is a bare file name (Quarto refuses paths in ``--output``); each parameter
    becomes ``-P name:value`` and each metadata entry ``-M key:value``, with the value written
    as a YAML scalar (Quarto parses it as YAML).
    """
    if fmt not in QUARTO_TO:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {sorted(QUARTO_TO)}")
    if not output_name or Path(output_name).name != output_name:
        raise ValueError(f"output_name must be a bare file name, got {output_name!r}")
    cmd = ["quarto", "render", str(qmd), "--to", QUARTO_TO[fmt], "--output", output_name]
    for name, value in params.items():
        _check_param_name(name)
        cmd += ["-P", f"{name}:{_yaml_scalar(value)}"]
    for key, value in (metadata or {}).items():
        _check_meta_key(key)
        cmd += ["-M", f"{key}:{_yaml_scalar(value)}"]
    return cmd


def find_chromium() -> str | None:
    """Path of a headless-capable Chromium/Chrome, or None. ``RETAIN_CHROMIUM`` overrides."""
    override = os.environ.get("RETAIN_CHROMIUM")
    if override:
        found = shutil.which(override)
        return found or (override if Path(override).is_file() else None)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def render(
    qmd: Path,
    out_dir: Path,
    *,
    output_stem: str,
    params: Mapping[str, object],
    formats: Sequence[str] = ("html",),
    engine: str = "auto",
    resource_dirs: Sequence[Path] = (),
    log: Callable[[str], None] | None = None,
    cell_timeout: float = _DEFAULT_CELL_TIMEOUT,
    check_offline: bool = True,
    metadata: Mapping[str, object] | None = None,
) -> RenderResult:
    """Render ``qmd`` with ``params`` into ``out_dir/<output_stem>.<ext>`` for each format.

    ``resource_dirs`` are extra directories copied into the private build directory next to the
    template, each under its own name (``<build>/<dir.name>/``), so templates can refer to them
    relatively.  ``check_offline`` rejects HTML that would load anything from the network.
    ``metadata`` overrides document metadata (Quarto's ``-M key:value``), e.g. a ``title``,
    ``subtitle``, ``lang`` or ``pagetitle`` written in the report's language.
    """
    qmd = Path(qmd).resolve()
    out_dir = Path(out_dir).resolve()
    say = log or (lambda _msg: None)
    if not qmd.is_file():
        raise RenderError(f"{engine} engine: template {qmd} does not exist")
    if not output_stem or Path(output_stem).name != output_stem or output_stem.startswith("."):
        raise ValueError(f"output_stem must be a plain file stem, got {output_stem!r}")
    fmts = list(dict.fromkeys(formats))
    if not fmts:
        raise ValueError("formats is empty")
    for fmt in fmts:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; expected one of {sorted(FORMATS)}")
    user_meta = dict(metadata or {})
    for key in user_meta:
        _check_meta_key(key)
    user_params = dict(params)
    for name in user_params:
        _check_param_name(name)
        if name in RESERVED_PARAMS:
            raise ValueError(f"parameter {name!r} is reserved: the renderer sets it itself")
    resources = [Path(d).resolve() for d in resource_dirs]
    for d in resources:
        if not d.is_dir():
            raise RenderError(f"{engine} engine: resource directory {d} does not exist ({qmd})")

    engine_name = resolve_engine(engine)
    chromium = None
    if engine_name == "jupyter" and "pdf" in fmts:
        chromium = find_chromium()
        if chromium is None:
            raise RenderError(
                f"jupyter engine: PDF output of {qmd} needs headless Chromium, but none of "
                f"{', '.join(CHROMIUM_NAMES)} is on PATH and RETAIN_CHROMIUM is not set "
                "(install it, e.g. `apt-get install chromium`, or install Quarto for Typst PDF)"
            )
    out_dir.mkdir(parents=True, exist_ok=True)

    outputs: dict[str, Path] = {}
    commands: list[list[str]] = []
    for fmt in fmts:
        doc_params = {**user_params, "output_format": fmt, "render_engine": engine_name}
        t0 = time.monotonic()
        build = _make_build_dir(qmd, out_dir, fmt, resources)
        say(f"[{engine_name}] {qmd.name} -> {fmt}: build dir {build}")
        try:
            if engine_name == "quarto":
                produced = _render_quarto(build / qmd.name, fmt, output_stem, doc_params, commands, say, user_meta)
            else:
                produced = _render_jupyter(
                    build / qmd.name, fmt, output_stem, doc_params, commands, say, cell_timeout, chromium, user_meta
                )
            if check_offline and fmt == "html":
                bad = offline_violations(produced.read_text(encoding="utf-8", errors="replace"))
                if bad:
                    raise RenderError(
                        "the HTML would load resources from the network when opened (it must work "
                        "offline): " + "; ".join(bad[:8])
                    )
            if fmt == "pdf":
                normalise_pdf(produced)  # no wall-clock time in the output: reruns are byte-identical
            final = out_dir / f"{output_stem}.{FORMATS[fmt]}"
            os.replace(produced, final)
            side = produced.with_name(f"{output_stem}_files")
            if side.is_dir():  # only when a template disables embed-resources
                dest = out_dir / side.name
                shutil.rmtree(dest, ignore_errors=True)
                os.replace(side, dest)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            msg = str(exc) if isinstance(exc, RenderError) else f"{type(exc).__name__}: {exc}"
            msg = msg.removeprefix(f"{engine_name} engine: ")
            raise RenderError(
                f"{engine_name} engine failed to render {qmd} to {fmt}: {msg}\n"
                f"(build directory kept for inspection: {build})"
            ) from exc
        shutil.rmtree(build, ignore_errors=True)
        outputs[fmt] = final
        say(f"[{engine_name}] wrote {final} ({time.monotonic() - t0:.1f}s)")
    return RenderResult(engine=engine_name, outputs=outputs, commands=commands)


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_META_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def _check_meta_key(key: object) -> None:
    if not isinstance(key, str) or not _META_KEY.match(key):
        raise ValueError(f"metadata key {key!r} is not a plain key (letters, digits, '-' and '_')")


def _check_param_name(name: object) -> None:
    if not isinstance(name, str) or not _IDENT.match(name) or name in {"True", "False", "None"}:
        raise ValueError(f"parameter name {name!r} is not a valid Python identifier")


def _plain_value(value: object) -> object:
    """Normalise a parameter value to str/int/float/bool/None/list/dict."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"parameter value {value!r} is not finite")
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain_value(v) for k, v in value.items()}
    raise TypeError(f"unsupported parameter value {value!r} ({type(value).__name__})")


def _yaml_scalar(value: object) -> str:
    """``value`` as Quarto's ``-P name:value`` expects it: YAML, strings unquoted when safe."""
    value = _plain_value(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        plain_ok = value == value.strip() and value != "" and "\n" not in value
        if plain_ok:
            try:
                plain_ok = yaml.safe_load(value) == value
            except yaml.YAMLError:
                plain_ok = False
        return value if plain_ok else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _parameters_source(params: Mapping[str, object]) -> str:
    lines = ["# Parameters injected by analysis.render"]
    for name, value in params.items():
        _check_param_name(name)
        lines.append(f"{name} = {_plain_value(value)!r}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Build directories
# --------------------------------------------------------------------------------------------

_SKIP_DIRS = {"_freeze", "__pycache__", "_site", "_book"}


def _make_build_dir(qmd: Path, out_dir: Path, fmt: str, resources: Sequence[Path]) -> Path:
    build = out_dir / f".build-{fmt}-{os.getpid()}-{secrets.token_hex(4)}"
    build.mkdir()
    _copy_tree(qmd.parent, build, exclude=out_dir)
    for res in resources:
        dest = build / res.name
        if dest.exists():
            raise RenderError(f"resource directory {res} clashes with {dest.name!r} next to the template {qmd}")
        dest.mkdir()
        _copy_tree(res, dest, exclude=out_dir)
    return build


def _copy_tree(src: Path, dest: Path, *, exclude: Path) -> None:
    """Copy ``src``'s contents into ``dest`` without hidden, ``*_files`` and freeze dirs, and
    without anything that contains ``exclude`` (the output directory may live inside ``src``)."""
    for entry in sorted(src.iterdir()):
        name = entry.name
        if name.startswith("."):
            continue
        resolved = entry.resolve()
        if resolved == exclude or resolved in exclude.parents:
            continue
        if entry.is_dir():
            if name in _SKIP_DIRS or name.endswith("_files"):
                continue
            target = dest / name
            target.mkdir()
            _copy_tree(entry, target, exclude=exclude)
        elif entry.is_file():
            shutil.copy2(entry, dest / name)


def _tail(text: str | None, lines: int = _STDERR_TAIL_LINES) -> str:
    if not text:
        return "(empty)"
    rows = text.rstrip().splitlines()
    return "\n".join(rows[-lines:])


# --------------------------------------------------------------------------------------------
# Quarto engine
# --------------------------------------------------------------------------------------------


def _render_quarto(
    qmd: Path, fmt: str, stem: str, params: Mapping[str, object], commands: list, say: Callable[[str], None],
    metadata: Mapping[str, object] | None = None,
) -> Path:
    build = qmd.parent
    output_name = f"{stem}.{FORMATS[fmt]}"
    cmd = quarto_command(qmd, fmt, output_name, params, metadata)
    commands.append(cmd)
    say("$ " + shlex.join(cmd))
    env = os.environ.copy()
    env.setdefault("QUARTO_PYTHON", sys.executable)  # execute with this venv's interpreter
    env.setdefault("SOURCE_DATE_EPOCH", str(source_date_epoch()))  # Typst dates its PDF with this, not the clock
    try:
        proc = subprocess.run(cmd, cwd=build, capture_output=True, text=True, env=env)
    except OSError as exc:
        raise RenderError(f"quarto engine: could not run quarto for {qmd}: {exc}") from exc
    if proc.returncode != 0:
        raise RenderError(
            f"quarto engine: `quarto render` of {qmd} to {fmt} exited with status {proc.returncode}.\n"
            f"stderr (tail):\n{_tail(proc.stderr)}"
        )
    candidates = [build / output_name]
    project_yml = build / "_quarto.yml"
    if project_yml.is_file():
        try:
            project = (yaml.safe_load(project_yml.read_text(encoding="utf-8")) or {}).get("project") or {}
        except yaml.YAMLError:
            project = {}
        if isinstance(project, dict) and project.get("output-dir"):
            candidates.append(build / str(project["output-dir"]) / output_name)
    for cand in candidates:
        if cand.is_file():
            return cand
    raise RenderError(
        f"quarto engine: `quarto render` of {qmd} exited 0 but did not write {output_name} "
        f"(looked in {', '.join(str(c.parent) for c in candidates)}).\n"
        f"stderr (tail):\n{_tail(proc.stderr)}"
    )


# --------------------------------------------------------------------------------------------
# .qmd reader
# --------------------------------------------------------------------------------------------

_EXEC_LANGS = {"python", "python3", "ipython", "ipython3"}
_FENCE_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_DIV_OPEN = re.compile(r"^ {0,3}:{3,}\s*(?P<attrs>\{[^{}]*\}|[^\s{}:][^\s{}]*)\s*:*\s*$")
_DIV_CLOSE = re.compile(r"^ {0,3}:{3,}\s*$")
_ATTR_TOKEN = re.compile(
    r"""\s*(?:\.(?P<cls>[^\s"'{}=#]+)|\#(?P<id>[^\s"'{}=#]+)|"""
    r"""(?P<key>[^\s"'{}=]+)=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'{}]+)))"""
)
_HEADING_ATTRS = re.compile(r"^(?P<head> {0,3}#{1,6}\s.*?)\s+\{[^{}]*\}\s*$")
_SHORTCODE = re.compile(r"\{\{<\s*(?P<name>[\w-]+)(?P<args>[^>]*?)\s*>\}\}")
_INLINE_EXPR = re.compile(r"`\{python\}\s+(?P<expr>[^`]+?)\s*`")
_XREF = re.compile(r"(?<![\w@/.])@(?P<label>(?:fig|tbl)-[A-Za-z0-9_-]+)")
_EXEC_DEFAULTS = {"echo": True, "eval": True, "include": True, "output": True, "warning": True, "error": False}
_FORMAT_ALIASES = {
    "html": {"html", "html4", "html5", "html:js"},
    "pdf": {"pdf", "typst"},
}


@dataclass
class _DivMark:
    """Placeholder for a fenced-div line, resolved once the div is closed."""

    text: str = ""


@dataclass
class _Markdown:
    parts: list = field(default_factory=list)  # str | _DivMark
    line: int = 0

    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text for p in self.parts)


@dataclass
class _RawHtml:
    text: str
    line: int


@dataclass
class _Code:
    source: str
    options: dict
    line: int
    visible: bool = True  # False: inside a block hidden for this format (executed, not shown)
    inline: bool = False  # synthesised from inline `{python} expr` markdown
    number: int = 0  # 1-based index among the document's code cells

    @property
    def first_line(self) -> str:
        for row in self.source.splitlines():
            if row.strip():
                return row.strip()
        return "(empty cell)"

    def opt(self, name: str) -> Any:
        return self.options.get(name)


@dataclass
class _Frame:
    line: int
    keep: bool
    wrap_open: str
    wrap_close: str
    mark: _DivMark
    has_blocks: bool = False


@dataclass
class QmdDocument:
    meta: dict
    blocks: list  # _Markdown | _RawHtml | _Code

    @property
    def code_cells(self) -> list[_Code]:
        return [b for b in self.blocks if isinstance(b, _Code)]


def _fail_parse(path: str, line: int, msg: str) -> RenderError:
    return RenderError(f"jupyter engine: {path}, line {line}: {msg}")


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_attrs(text: str, path: str, line: int) -> tuple[list[str], str | None, dict[str, str]]:
    text = text.strip()
    if not text.startswith("{"):
        return [text], None, {}
    body = text[1:-1]
    classes: list[str] = []
    ident = None
    kv: dict[str, str] = {}
    pos = 0
    while pos < len(body):
        if not body[pos:].strip():
            break
        m = _ATTR_TOKEN.match(body, pos)
        if not m or m.end() == pos:
            raise _fail_parse(path, line, f"cannot parse fenced-div attributes {text!r}")
        if m.group("cls"):
            classes.append(m.group("cls"))
        elif m.group("id"):
            ident = m.group("id")
        else:
            val = m.group("dq") if m.group("dq") is not None else m.group("sq")
            kv[m.group("key")] = val if val is not None else m.group("bare")
        pos = m.end()
    return classes, ident, kv


def _meta_truthy(meta: Mapping, dotted: str) -> bool:
    node: Any = meta
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return bool(node)


def _condition(kv: Mapping[str, str], fmt: str, meta: Mapping) -> bool:
    """True when every when-/unless- condition on a conditional div holds."""
    ok = True
    for key, value in kv.items():
        if key in ("when-format", "unless-format"):
            hit = value.strip() in _FORMAT_ALIASES[fmt]
            ok &= hit if key == "when-format" else not hit
        elif key in ("when-meta", "unless-meta"):
            hit = _meta_truthy(meta, value.strip())
            ok &= hit if key == "when-meta" else not hit
        elif key == "when-profile":
            ok = False  # no Quarto profile is active in the jupyter engine
    return ok


def _open_div(attrs: str, fmt: str, meta: Mapping, path: str, line: int) -> tuple[bool, str, str]:
    """(keep, html_open, html_close) for a fenced div's opening line."""
    classes, ident, kv = _parse_attrs(attrs, path, line)
    if "content-visible" in classes:
        return _condition(kv, fmt, meta), "", ""
    if "content-hidden" in classes:
        return not _condition(kv, fmt, meta), "", ""
    if not classes and not ident:
        return True, "", ""
    css = []
    title = ""
    for cls in classes:
        if cls.startswith("callout-") or cls == "callout":
            css.append("callout")
        css.append(cls)
    css = list(dict.fromkeys(css))
    if "callout" in css and kv.get("title"):
        title = f'<div class="callout-title">{_html.escape(kv["title"])}</div>\n'
    attr = f' class="{_html.escape(" ".join(css))}"' if css else ""
    if ident:
        attr += f' id="{_html.escape(ident)}"'
    if kv.get("style"):
        attr += f' style="{_html.escape(kv["style"])}"'
    return True, f"\n<div{attr}>\n{title}\n", "\n</div>\n\n"


def _parse_cell_header(info: str, path: str, line: int) -> tuple[str, dict] | None:
    """For ```` ```{lang ...} ```` return (lang, inline options); None for non-executable fences."""
    info = info.strip()
    m = re.match(r"^\{(?P<lang>[A-Za-z][\w+-]*)(?P<rest>[^}]*)\}$", info)
    if not m:
        return None
    lang = m.group("lang")
    if lang not in _EXEC_LANGS:
        raise _fail_parse(
            path, line, f"executable cell language {lang!r} is not supported by the jupyter engine (python only)"
        )
    options: dict[str, Any] = {}
    for i, token in enumerate(t for t in re.split(r"[\s,]+", m.group("rest").strip()) if t):
        if "=" in token:
            key, _, raw = token.partition("=")
            raw = {"TRUE": "true", "FALSE": "false"}.get(raw, raw)
            try:
                options[key.replace(".", "-")] = yaml.safe_load(raw)
            except yaml.YAMLError:
                options[key.replace(".", "-")] = raw.strip("\"'")
        elif i == 0:
            options["label"] = token
    return lang, options


def _split_options(body: list[str], path: str, line: int) -> tuple[dict, str]:
    opt_rows = []
    i = 0
    while i < len(body) and body[i].startswith("#|"):
        row = body[i][2:]
        opt_rows.append(row[1:] if row.startswith(" ") else row)
        i += 1
    options: dict = {}
    if opt_rows:
        try:
            loaded = yaml.safe_load("\n".join(opt_rows))
        except yaml.YAMLError as exc:
            raise _fail_parse(path, line, f"invalid `#|` cell options: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise _fail_parse(path, line, "`#|` cell options must be `key: value` lines")
        options = loaded or {}
    source = "\n".join(body[i:])
    return options, source.strip("\n")


def _split_front_matter(text: str, path: str) -> tuple[dict, list[str], int]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, lines, 0
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            try:
                meta = yaml.safe_load("\n".join(lines[1:end])) or {}
            except yaml.YAMLError as exc:
                raise _fail_parse(path, 1, f"invalid YAML front matter: {exc}") from exc
            if not isinstance(meta, dict):
                raise _fail_parse(path, 1, "YAML front matter must be a mapping")
            return meta, lines[end + 1 :], end + 1
    raise _fail_parse(path, 1, "YAML front matter opened with '---' is never closed")


def _shortcodes(text: str, meta: Mapping, path: str, line: int, say: Callable[[str], None]) -> str:
    def repl(m: re.Match) -> str:
        name, args = m.group("name"), m.group("args").strip()
        if name == "pagebreak":
            return '\n<div class="page-break"></div>\n'
        if name == "meta":
            node: Any = meta
            for part in args.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            return "" if node is None else str(node)
        say(f"warning: {path}:{line}: shortcode {{{{< {name} >}}}} is not supported by the jupyter engine; left as is")
        return m.group(0)

    return _SHORTCODE.sub(repl, text)


def parse_qmd(
    text: str, fmt: str, *, path: str = "<qmd>", project_meta: Mapping | None = None, metadata: Mapping | None = None,
    log: Callable[[str], None] | None = None,
) -> QmdDocument:
    """Read a ``.qmd`` for output format ``fmt`` ("html" or "pdf").

    Conditional divs are resolved for ``fmt``: hidden markdown is dropped, hidden code cells are
    kept but marked ``visible=False`` (Quarto still executes them).  Other divs are unwrapped, or
    wrapped in a ``<div class=…>`` when they hold only markdown.
    """
    if fmt not in _FORMAT_ALIASES:
        raise ValueError(f"unknown output format {fmt!r}")
    say = log or (lambda _m: None)
    front, lines, offset = _split_front_matter(text, path)
    meta = _deep_merge(_deep_merge(dict(project_meta or {}), front), dict(metadata or {}))
    defaults = dict(_EXEC_DEFAULTS)
    if isinstance(meta.get("execute"), dict):
        defaults.update({k: v for k, v in meta["execute"].items() if k in _EXEC_DEFAULTS})

    blocks: list = []
    stack: list[_Frame] = []
    md: _Markdown | None = None

    def visible() -> bool:
        return all(f.keep for f in stack)

    def add_md(piece: str | _DivMark, lineno: int) -> None:
        nonlocal md
        if md is None:
            md = _Markdown(line=lineno)
            blocks.append(md)
        md.parts.append(piece)

    def add_block(block: Any) -> None:
        nonlocal md
        md = None
        blocks.append(block)
        for frame in stack:
            frame.has_blocks = True

    i = 0
    n = len(lines)
    while i < n:
        row = lines[i]
        lineno = i + 1 + offset
        fence = _FENCE_OPEN.match(row)
        if fence and not (fence.group("fence")[0] == "`" and "`" in fence.group("info")):
            char, width = fence.group("fence")[0], len(fence.group("fence"))
            info = fence.group("info").strip()
            close = re.compile(rf"^ {{0,3}}{re.escape(char)}{{{width},}}\s*$")
            j = i + 1
            while j < n and not close.match(lines[j]):
                j += 1
            if j >= n:
                raise _fail_parse(path, lineno, f"code fence {fence.group('fence')} is never closed")
            body = lines[i + 1 : j]
            header = _parse_cell_header(info, path, lineno)
            if header is not None:
                inline_opts = header[1]
                opts, source = _split_options(body, path, lineno)
                options = {**defaults, **inline_opts, **opts}
                tags = options.get("tags") or []
                options["tags"] = [tags] if isinstance(tags, str) else list(tags)
                cell = _Code(source=source, options=options, line=lineno, visible=visible())
                add_block(cell)  # hidden cells (visible=False) still execute, in document order
            elif info.startswith("{="):
                raw_fmt = info[2:-1].strip().lower() if info.endswith("}") else ""
                if raw_fmt == "html" and visible():
                    add_block(_RawHtml("\n".join(body), lineno))
                elif raw_fmt != "html":
                    say(f"{path}:{lineno}: raw {{={raw_fmt}}} block dropped by the jupyter engine")
            elif visible():
                if info.startswith("{"):
                    classes, _ident, _kv = _parse_attrs(info, path, lineno)
                    lang = classes[0] if classes else ""
                    row = f"{fence.group('indent')}{fence.group('fence')}{lang}"
                add_md("\n".join([row, *body, lines[j]]) + "\n", lineno)
            i = j + 1
            continue
        if _DIV_CLOSE.match(row):
            if not stack:
                raise _fail_parse(path, lineno, "closing fenced div ':::' has no matching opening ':::'")
            frame = stack.pop()
            if frame.wrap_open and not frame.has_blocks and visible():
                frame.mark.text = frame.wrap_open
                add_md(frame.wrap_close, lineno)
            else:
                add_md("\n", lineno)
            i += 1
            continue
        div = _DIV_OPEN.match(row)
        if div:
            keep, wrap_open, wrap_close = _open_div(div.group("attrs"), fmt, meta, path, lineno)
            mark = _DivMark("\n")
            if visible():
                add_md(mark, lineno)
            stack.append(_Frame(lineno, keep, wrap_open, wrap_close, mark))
            i += 1
            continue
        if visible():
            heading = _HEADING_ATTRS.match(row)
            if heading:
                row = heading.group("head")
            add_md(_shortcodes(row, meta, path, lineno, say) + "\n", lineno)
        i += 1
    if stack:
        raise _fail_parse(path, stack[-1].line, "fenced div ':::' opened here is never closed")

    # Inline `{python} expr` expressions: that markdown becomes an asis cell printing it.
    final: list = []
    for block in blocks:
        if isinstance(block, _Markdown):
            text_md = block.text()
            if not text_md.strip():
                continue
            if _INLINE_EXPR.search(text_md):
                final.append(_inline_cell(text_md, block.line))
                continue
            final.append(_Markdown([text_md], block.line))
        else:
            final.append(block)
    for number, cell in enumerate((b for b in final if isinstance(b, _Code)), start=1):
        cell.number = number
    return QmdDocument(meta=meta, blocks=final)


def _inline_cell(text: str, line: int) -> _Code:
    pieces: list[str] = []
    pos = 0
    for m in _INLINE_EXPR.finditer(text):
        pieces.append(repr(text[pos : m.start()]))
        pieces.append(f"str({m.group('expr')})")
        pos = m.end()
    pieces.append(repr(text[pos:]))
    source = "print(''.join([" + ", ".join(pieces) + "]), end='')"
    options = {**_EXEC_DEFAULTS, "echo": False, "output": "asis", "warning": False, "tags": []}
    return _Code(source=source, options=options, line=line, inline=True)


# --------------------------------------------------------------------------------------------
# Jupyter engine
# --------------------------------------------------------------------------------------------

_KERNEL_NAME = "retain-current-python"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@functools.lru_cache(maxsize=1)
def _kernel_manager_class() -> type:
    """An AsyncKernelManager whose kernel is always this interpreter (``sys.executable``)."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class CurrentPythonKernelSpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str, *args: Any, **kwargs: Any) -> KernelSpec:
            if kernel_name == _KERNEL_NAME:
                return KernelSpec(
                    argv=[sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    display_name=f"Python ({sys.executable})",
                    language="python",
                    metadata={},
                    env={},
                )
            return super().get_kernel_spec(kernel_name, *args, **kwargs)

    class CurrentPythonKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self) -> KernelSpecManager:
            return CurrentPythonKernelSpecManager(data_dir=self.data_dir)

        # Unix-domain sockets with an absolute, private path prefix: no TCP ports to race for
        # when several renders run at once, and no unencrypted-TCP warning from ipykernel.
        # (The default ipc prefix is relative, and the kernel runs in another cwd.)
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc" if os.name == "posix" else "tcp"

        @default("ip")
        def _ip_default(self) -> str:
            if self.transport == "ipc":
                return os.path.join(tempfile.gettempdir(), f"retain-kernel-{os.getpid()}-{secrets.token_hex(4)}")
            return "127.0.0.1"

    return CurrentPythonKernelManager


def _describe_cell(cell: _Code | None, total: int, qmd: Path) -> str:
    if cell is None:
        return "the injected parameters cell"
    where = f"{qmd.name} line {cell.line}"
    if cell.inline:
        return f"an inline `{{python}}` expression in the markdown at {where}"
    label = f", label {cell.options['label']!r}" if cell.options.get("label") else ""
    return f"code cell {cell.number} of {total} ({where}{label}): `{cell.first_line}`"


def _number_captions(doc: QmdDocument) -> dict[str, str]:
    """Assign 'Figure N' / 'Table N' to shown labelled cells; returns label -> reference text."""
    refs: dict[str, str] = {}
    counts = {"fig": 0, "tbl": 0}
    for cell in doc.code_cells:
        label = str(cell.options.get("label") or "")
        kind = label.split("-", 1)[0]
        if kind in counts and cell.visible and cell.options.get("include") is not False:
            counts[kind] += 1
            refs[label] = f"{'Figure' if kind == 'fig' else 'Table'} {counts[kind]}"
    return refs


def _xrefs(text: str, refs: Mapping[str, str]) -> str:
    return _XREF.sub(lambda m: f"[{refs[m['label']]}](#{m['label']})" if m["label"] in refs else m.group(0), text)


def _shown_outputs(cell: _Code, outputs: list, refs: Mapping[str, str]) -> list:
    import nbformat

    if cell.options.get("output") is False:
        return []
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr" and cell.options.get("warning") is False:
            continue
        kept.append(out)
    if cell.options.get("output") == "asis":
        merged: list = []
        for out in kept:
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                if merged and merged[-1].get("_asis"):
                    merged[-1]["_text"] += out.get("text", "")
                else:
                    merged.append({"_asis": True, "_text": out.get("text", "")})
            else:
                merged.append(out)
        kept = [
            nbformat.v4.new_output("display_data", data={"text/markdown": _xrefs(o["_text"], refs)})
            if isinstance(o, dict) and o.get("_asis")
            else o
            for o in merged
        ]
    label = str(cell.options.get("label") or "")
    caption = cell.options.get("fig-cap") or cell.options.get("tbl-cap")
    if caption:
        prefix = f"{refs[label]}: " if label in refs else ""
        anchor = f' id="{_html.escape(label)}"' if label else ""
        kind = "table-caption" if cell.options.get("tbl-cap") and not cell.options.get("fig-cap") else "figure-caption"
        md = f'<div class="{kind}"{anchor}>\n\n{prefix}{caption}\n\n</div>\n'
        cap = nbformat.v4.new_output("display_data", data={"text/markdown": md})
        kept = [cap, *kept] if kind == "table-caption" else [*kept, cap]
    return kept


def _render_jupyter(
    qmd: Path,
    fmt: str,
    stem: str,
    params: Mapping[str, object],
    commands: list,
    say: Callable[[str], None],
    cell_timeout: float,
    chromium: str | None,
    metadata: Mapping[str, object] | None = None,
) -> Path:
    build = qmd.parent
    project_meta: dict = {}
    if (build / "_quarto.yml").is_file():
        loaded = yaml.safe_load((build / "_quarto.yml").read_text(encoding="utf-8")) or {}
        if isinstance(loaded, dict):
            project_meta = {k: v for k, v in loaded.items() if k != "project"}
    doc = parse_qmd(
        qmd.read_text(encoding="utf-8"), fmt, path=qmd.name, project_meta=project_meta, metadata=metadata, log=say
    )
    page = _jupyter_html(doc, qmd, fmt, params, say, cell_timeout)
    if fmt == "html":
        target = build / f"{stem}.html"
        target.write_text(page, encoding="utf-8")
        return target
    printable = build / f"{stem}.print.html"
    printable.write_text(page, encoding="utf-8")
    target = build / f"{stem}.pdf"
    _print_pdf(chromium or "", printable, target, qmd, commands, say)
    return target


def _jupyter_html(
    doc: QmdDocument, qmd: Path, fmt: str, params: Mapping[str, object], say: Callable[[str], None], timeout: float
) -> str:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    code = doc.code_cells
    exec_nb = nbformat.v4.new_notebook()
    exec_nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    exec_nb.metadata["language_info"] = {"name": "python"}
    index_map: list[_Code | None] = []
    for cell in code:
        tags = list(cell.options.get("tags") or [])
        if cell.options.get("eval") is False:
            tags.append("skip-execution")
        if cell.options.get("error") is True:
            tags.append("raises-exception")
        exec_nb.cells.append(
            nbformat.v4.new_code_cell(cell.source, metadata={"tags": tags}, id=f"c{len(exec_nb.cells)}")
        )
        index_map.append(cell)
    injected = nbformat.v4.new_code_cell(
        _parameters_source(params), metadata={"tags": ["injected-parameters"]}, id="injected-parameters"
    )
    at = next((k + 1 for k, c in enumerate(code) if "parameters" in (c.options.get("tags") or [])), 0)
    exec_nb.cells.insert(at, injected)
    index_map.insert(at, None)

    current: dict[str, int | None] = {"index": None}

    def on_cell_execute(cell: Any = None, cell_index: int | None = None, **_: Any) -> None:
        current["index"] = cell_index

    client = NotebookClient(
        exec_nb,
        timeout=timeout,
        startup_timeout=120,
        kernel_name=_KERNEL_NAME,
        kernel_manager_class=_kernel_manager_class(),
        resources={"metadata": {"path": str(qmd.parent)}},
        on_cell_execute=on_cell_execute,
        record_timing=False,
        shutdown_kernel="immediate",
    )
    say(f"executing {len(exec_nb.cells)} cells of {qmd.name} ({fmt}) with {sys.executable}")
    t0 = time.monotonic()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        idx = current["index"]
        cell = index_map[idx] if idx is not None and idx < len(index_map) else None
        try:
            nbformat.write(exec_nb, str(qmd.parent / f"{qmd.stem}.failed.ipynb"))
        except Exception:  # noqa: BLE001 - best effort debugging aid
            pass
        detail = _ANSI.sub("", str(exc)).strip()
        kind = {CellTimeoutError: f"timed out after {timeout:g}s", DeadKernelError: "killed the kernel"}.get(
            type(exc), "raised an error"
        )
        raise RenderError(
            f"jupyter engine: {_describe_cell(cell, len(code), qmd)} {kind} "
            f"(partially executed notebook: {qmd.stem}.failed.ipynb).\n{detail}"
        ) from exc
    say(f"executed in {time.monotonic() - t0:.1f}s; exporting html" + (" for print" if fmt == "pdf" else ""))

    refs = _number_captions(doc)
    export = nbformat.v4.new_notebook()
    export.metadata = exec_nb.metadata
    outputs_by_cell = {id(cell): exec_nb.cells[k].outputs for k, cell in enumerate(index_map) if cell is not None}
    for block in doc.blocks:
        n = len(export.cells)
        if isinstance(block, _Markdown):
            export.cells.append(nbformat.v4.new_markdown_cell(_xrefs(block.text(), refs), id=f"cell-{n}"))
        elif isinstance(block, _RawHtml):
            raw = nbformat.v4.new_code_cell("", id=f"cell-{n}", metadata={"transient": {"remove_source": True}})
            raw.outputs = [nbformat.v4.new_output("display_data", data={"text/html": block.text})]
            export.cells.append(raw)
        else:
            if not block.visible or block.options.get("include") is False:
                continue
            outs = _shown_outputs(block, outputs_by_cell[id(block)], refs)
            show_code = block.options.get("echo") not in (False, None) and block.source.strip()
            if not show_code and not outs:
                continue
            tags = [t for t in block.options.get("tags") or [] if isinstance(t, str)]
            cell = nbformat.v4.new_code_cell(block.source, id=f"cell-{n}", metadata={"tags": tags})
            if not show_code:
                cell.metadata["transient"] = {"remove_source": True}
            cell.outputs = outs
            export.cells.append(cell)
    return _export_html(export, doc.meta, qmd, fmt, params)


# --------------------------------------------------------------------------------------------
# HTML export
# --------------------------------------------------------------------------------------------

_PAGE_TEMPLATE = r"""{%- extends 'base.html.j2' -%}
{%- block header -%}
<!DOCTYPE html>
<html lang="{{ resources.retain.lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="generator" content="retain analysis.render (jupyter engine)">
<title>{{ resources.retain.title }}</title>
<style type="text/css">
{{ resources.retain.css }}
</style>
{% for css in resources.inlining.css -%}
<style type="text/css">
{{ css }}
</style>
{% endfor -%}
{% for css in resources.retain.user_css -%}
<style type="text/css">
{{ css }}
</style>
{% endfor -%}
</head>
{%- endblock header -%}
{%- block body_header -%}
<body class="retain-doc retain-format-{{ resources.retain.output_format }}">
<main class="retain-container">
{{ resources.retain.title_block }}
{%- endblock body_header -%}
{%- block body_footer -%}
</main>
</body>
{%- endblock body_footer -%}
{%- block footer -%}
{{ super() }}
</html>
{%- endblock footer -%}
"""

_BASE_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
html { font-size: 16px; }
body { margin: 0; background: #fff; color: #1f2328;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans",
    "Liberation Sans", sans-serif;
  line-height: 1.55; }
.retain-container { max-width: 960px; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
header.retain-title-block { border-bottom: 1px solid #d0d7de; margin-bottom: 1.5rem; padding-bottom: 1rem; }
header.retain-title-block h1.title { margin: 0 0 .25rem; font-size: 2rem; line-height: 1.2; }
header.retain-title-block .subtitle { margin: 0 0 .5rem; font-size: 1.25rem; color: #57606a; }
header.retain-title-block .author, header.retain-title-block .date { margin: 0; color: #57606a; }
h1, h2, h3, h4 { line-height: 1.25; margin: 1.6em 0 .6em; }
h2 { font-size: 1.5rem; border-bottom: 1px solid #eaeef2; padding-bottom: .25rem; }
h3 { font-size: 1.2rem; }
p, ul, ol { margin: 0 0 1em; }
a { color: #0969da; }
img, svg { max-width: 100%; height: auto; }
code, pre, kbd { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: .875em; }
pre { background: #f6f8fa; border-radius: 6px; padding: .75rem 1rem; overflow-x: auto; margin: 0 0 1em; }
.jp-Cell { margin: 0 0 1rem; }
.jp-Collapser, .jp-InputPrompt, .jp-OutputPrompt { display: none; }
.jp-OutputArea-output pre, .jp-RenderedText pre { background: #f6f8fa; }
.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"] pre { background: #fff5f5; color: #82071e; }
.jp-RenderedImage, .jp-RenderedSVG { margin: .5rem 0; }
table { border-collapse: collapse; margin: .75rem 0 1.25rem; font-size: .92rem; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #d0d7de; padding: .35rem .7rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #8c959f; background: #f6f8fa; }
tbody tr:nth-child(even) { background: #fafbfc; }
td[align="right"], th[align="right"] { text-align: right; }
.jp-RenderedHTMLCommon table { overflow-x: auto; }
.callout { border-left: 4px solid #0969da; background: #f1f6fd; border-radius: 4px; padding: .6rem 1rem;
  margin: 1rem 0; }
.callout > :last-child { margin-bottom: 0; }
.callout-title { font-weight: 600; margin-bottom: .35rem; }
.callout-warning, .callout-caution { border-left-color: #bf8700; background: #fff8e5; }
.callout-important { border-left-color: #cf222e; background: #fff0f0; }
.callout-tip { border-left-color: #1a7f37; background: #effaf2; }
.figure-caption, .table-caption { color: #57606a; font-size: .9rem; margin: .25rem 0 1rem; }
.figure-caption p, .table-caption p { margin: 0; }
.page-break { break-after: page; page-break-after: always; height: 0; }
nav.retain-toc { margin: 0 0 1.5rem; font-size: .9rem; }
nav.retain-toc .retain-toc-title { margin: 0 0 .3rem; font-weight: 600; color: #57606a; }
nav.retain-toc ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .3rem 1.1rem; }
nav.retain-toc li.toc-level-3 { font-size: .84rem; }
nav.retain-toc li.toc-level-3::before { content: "· "; color: #8c959f; }
@page { size: A4; margin: 18mm 16mm 20mm; }
@media print {
  body { font-size: 10.5pt; }
  .retain-container { max-width: none; padding: 0; }
  h1, h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  table, figure, img, svg, pre, .callout, .jp-OutputArea-output { break-inside: avoid; page-break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def _meta_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_meta_text(v) for v in value)
    if isinstance(value, Mapping):
        return _meta_text(value.get("name") or value.get("text") or "")
    return "" if value is None else str(value)


def _title_block(meta: Mapping, qmd: Path) -> tuple[str, str]:
    title = _meta_text(meta.get("title"))
    subtitle = _meta_text(meta.get("subtitle"))
    author = _meta_text(meta.get("author"))
    date = _meta_text(meta.get("date"))
    if date in ("today", "now", "last-modified"):
        # A wall-clock date would make reruns differ: SOURCE_DATE_EPOCH when set, else today.
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        if epoch and epoch.strip().isdigit():
            date = _dt.datetime.fromtimestamp(int(epoch), tz=_dt.timezone.utc).date().isoformat()
        elif date == "last-modified":
            date = _dt.date.fromtimestamp(qmd.stat().st_mtime).isoformat()
        else:
            date = _dt.date.today().isoformat()
    rows = []
    if title:
        rows.append(f'<h1 class="title">{_html.escape(title)}</h1>')
    if subtitle:
        rows.append(f'<p class="subtitle">{_html.escape(subtitle)}</p>')
    if author:
        rows.append(f'<p class="author">{_html.escape(author)}</p>')
    if date:
        rows.append(f'<p class="date">{_html.escape(date)}</p>')
    page_title = _meta_text(meta.get("pagetitle")) or " – ".join(t for t in (title, subtitle) if t) or qmd.stem
    block = '<header class="retain-title-block">\n' + "\n".join(rows) + "\n</header>\n" if rows else ""
    return _html.escape(page_title), block


def _user_css(meta: Mapping, build: Path, fmt: str) -> list[str]:
    sources: list = []
    for node in (meta, (meta.get("format") or {}).get("html") if isinstance(meta.get("format"), dict) else None):
        if isinstance(node, Mapping) and node.get("css"):
            css = node["css"]
            sources.extend(css if isinstance(css, list) else [css])
    out = []
    for name in dict.fromkeys(str(s) for s in sources):
        path = build / name
        if path.suffix == ".css" and path.is_file():
            out.append(path.read_text(encoding="utf-8"))
    return out


_IMG_SRC = re.compile(r"""(<img\b[^>]*?\bsrc=)(["'])(?P<src>[^"']+)\2""", re.IGNORECASE)


def _embed_local_images(page: str, base: Path) -> str:
    def repl(m: re.Match) -> str:
        src = m.group("src")
        if re.match(r"^(data:|[a-z][a-z0-9+.-]*://|#)", src, re.IGNORECASE):
            return m.group(0)
        path = (base / src).resolve()
        if not path.is_file() or base.resolve() not in path.parents:
            return m.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{m.group(1)}{m.group(2)}data:{mime};base64,{data}{m.group(2)}"

    return _IMG_SRC.sub(repl, page)


def _export_html(nb: Any, meta: Mapping, qmd: Path, fmt: str, params: Mapping[str, object]) -> str:
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        template_file="retain_page.html.j2",
        extra_loaders=[DictLoader({"retain_page.html.j2": _PAGE_TEMPLATE})],
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_anchor_links=True,
        # nbconvert's embed_images re-parses every raw-HTML fragment with BeautifulSoup, which
        # closes the <div> opened by a wrapped fenced div; local images are inlined afterwards.
        embed_images=False,
        sanitize_html=False,
    )
    title, block = _title_block(meta, qmd)
    resources = {
        "metadata": {"path": str(qmd.parent), "name": qmd.stem},
        "retain": {
            "lang": _html.escape(str(meta.get("lang") or "en")),
            "title": title,
            "title_block": block,
            "css": _BASE_CSS,
            "user_css": _user_css(meta, qmd.parent, fmt),
            "output_format": fmt,
        },
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    nav = _table_of_contents(body, meta, fmt)
    if nav:
        anchor = '<main class="retain-container">\n' + block
        body = body.replace(anchor, anchor + nav, 1)
    return _embed_local_images(body, qmd.parent)


_TOC_TITLES = {"en": "Contents", "fr": "Sommaire"}
_HEADING = re.compile(r'<h([2-6])\b[^>]*?\bid="([^"]+)"[^>]*>(.*?)</h\1>', re.S)


def _table_of_contents(body: str, meta: Mapping, fmt: str) -> str:
    """Quarto's `toc: true` for the Jupyter engine's HTML: links to the headings (h2 .. `toc-depth`, which
    defaults to 3 as in Quarto) with an id, placed under the title block. Not in print: a PDF has no links to follow."""
    html_opts = (meta.get("format") or {}).get("html") if isinstance(meta.get("format"), Mapping) else None
    opts = {**meta, **html_opts} if isinstance(html_opts, Mapping) else dict(meta)
    if fmt != "html" or not opts.get("toc"):
        return ""
    depth = int(opts.get("toc-depth") or 3)
    text = re.sub(r"<(script|style)\b.*?</\1>", "", body, flags=re.S | re.I)
    items = [
        f'<li class="toc-level-{level}"><a href="#{anchor}">{re.sub(r"<[^>]+>", "", title).strip()}</a></li>'
        for level, anchor, title in _HEADING.findall(text)
        if int(level) <= depth
    ]
    if not items:
        return ""
    lang = str(meta.get("lang") or "en").split("-")[0]
    title = _html.escape(_meta_text(opts.get("toc-title")) or _TOC_TITLES.get(lang, _TOC_TITLES["en"]))
    return f'<nav class="retain-toc" aria-label="{title}"><p class="retain-toc-title">{title}</p><ul>{"".join(items)}</ul></nav>\n'


class _ResourceScanner(HTMLParser):
    """Collects attributes that make a browser fetch something (script content is not parsed)."""

    FETCH_ATTRS = {"src", "srcset", "data", "poster", "background", "xlink:href"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        d = {k.lower(): (v or "") for k, v in attrs}
        for key, value in d.items():
            fetches = key in self.FETCH_ATTRS or (key == "href" and tag in ("link", "image", "use"))
            if fetches and re.search(r"(^|[\s,])(https?:)?//", value.strip(), re.IGNORECASE):
                self.found.append(f"<{tag} {key}={value[:120]!r}>")
        if "style" in d:
            self._check_css(d["style"], f"<{tag} style>")
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._check_css(data, "<style>")

    def _check_css(self, css: str, where: str) -> None:
        for m in re.finditer(r"""(url\(\s*["']?|@import\s+["'])\s*(?P<u>(https?:)?//[^"')\s]*)""", css, re.IGNORECASE):
            self.found.append(f"{where} {m.group('u')[:120]!r}")


def offline_violations(page: str) -> list[str]:
    """Everything in an HTML page that would be fetched from the network when it is opened."""
    scanner = _ResourceScanner()
    scanner.feed(page)
    scanner.close()
    return scanner.found


# --------------------------------------------------------------------------------------------
# Reproducible PDFs
# --------------------------------------------------------------------------------------------

#: PDF date strings ``(D:YYYYMMDDHHmmSS+HH'mm')`` in the document information dictionary.
_PDF_INFO_DATE = re.compile(rb"(/(?:CreationDate|ModDate)\s*\(D:)(\d{4,14})((?:[Zz]|[+-]\d\d'?\d\d'?)?)(\))")
#: ISO dates in XMP metadata (``<xmp:CreateDate>2026-01-02T03:04:05+00:00</xmp:CreateDate>``).
_XMP_DATE = re.compile(
    rb"(<(xmp:CreateDate|xmp:ModifyDate|xmp:MetadataDate|pdf:CreationDate)>)"
    rb"(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?)([Zz]|[+-]\d\d:\d\d)?(</\2>)"
)


def source_date_epoch() -> int:
    """The date reproducible builds stamp on documents: ``SOURCE_DATE_EPOCH`` if set, else 0 (1970-01-01)."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(value) if value.isdigit() else 0


def normalise_pdf(path: Path, epoch: int | None = None) -> int:
    """Replace the creation/modification dates a PDF writer stamped from the clock with a fixed
    date (``SOURCE_DATE_EPOCH``, else 1970-01-01 UTC); returns how many dates were replaced.

    Every replacement has exactly the length of what it replaces, so the cross-reference table's
    byte offsets stay valid and the PDF stays well-formed. Dates inside compressed streams are
    not touched (Chromium and Typst write them uncompressed).
    """
    stamp = _dt.datetime.fromtimestamp(source_date_epoch() if epoch is None else epoch, tz=_dt.timezone.utc)
    digits = stamp.strftime("%Y%m%d%H%M%S").encode("ascii")
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%S").encode("ascii")

    def zero_offset(tz: bytes) -> bytes:  # "+02'00'" -> "+00'00'", "Z" stays
        return re.sub(rb"\d", b"0", tz).replace(b"-", b"+")

    def info(m: re.Match) -> bytes:
        return m.group(1) + digits[: len(m.group(2))] + zero_offset(m.group(3)) + m.group(4)

    def xmp(m: re.Match) -> bytes:
        when = m.group(3)
        fixed = iso[: len(when)] + re.sub(rb"\d", b"0", when[len(iso) :])  # fractions of a second become 0
        return m.group(1) + fixed + zero_offset(m.group(4) or b"") + m.group(5)

    data = Path(path).read_bytes()
    original = data
    data, n_info = _PDF_INFO_DATE.subn(info, data)
    data, n_xmp = _XMP_DATE.subn(xmp, data)
    data = _renumber_structure_ids(data)
    if data != original:
        Path(path).write_bytes(data)
    return n_info + n_xmp


_STRUCT_ID = re.compile(rb"\(node(\d{8})\)")


def _renumber_structure_ids(data: bytes) -> bytes:
    """Chromium names tagged-PDF structure elements `(nodeNNNNNNNN)` after its DOM node ids, which
    depend on the order the renderer created nodes in (and so vary between runs of the same
    page). Renumber them 1, 2, 3, ... in order of first appearance, with the same width, so
    references (`/ID`, the ID tree) stay consistent and no byte offset moves."""
    numbers: dict[bytes, bytes] = {}

    def renumber(m: re.Match) -> bytes:
        new = numbers.setdefault(m.group(1), b"%08d" % (len(numbers) + 1))
        return b"(node" + new + b")"

    return _STRUCT_ID.sub(renumber, data)


# --------------------------------------------------------------------------------------------
# PDF through headless Chromium
# --------------------------------------------------------------------------------------------


def _print_pdf(chromium: str, page: Path, target: Path, qmd: Path, commands: list, say: Callable[[str], None]) -> None:
    profile = Path(tempfile.mkdtemp(prefix="retain-chromium-"))
    try:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            "--virtual-time-budget=15000",
            f"--print-to-pdf={target}",
            page.resolve().as_uri(),
        ]
        commands.append(cmd)
        say("$ " + shlex.join(cmd))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_CHROMIUM_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise RenderError(
                f"jupyter engine: chromium did not finish printing {qmd} within {_CHROMIUM_TIMEOUT:g}s.\n"
                f"stderr (tail):\n{_tail(exc.stderr if isinstance(exc.stderr, str) else None)}"
            ) from exc
        except OSError as exc:
            raise RenderError(f"jupyter engine: could not run chromium ({chromium}) for {qmd}: {exc}") from exc
        ok = target.is_file() and target.read_bytes()[:5] == b"%PDF-"
        if proc.returncode != 0 or not ok:
            raise RenderError(
                f"jupyter engine: chromium failed to print {qmd} to PDF (exit status {proc.returncode}, "
                f"{'no valid PDF written' if not ok else 'PDF written'}).\nstderr (tail):\n{_tail(proc.stderr)}"
            )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
