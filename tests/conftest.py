import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def chromium_binary() -> str | None:
    override = os.environ.get("RETAIN_CHROMIUM")
    if override:
        return override
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The browser binary, or a skip with the reason; in CI (RETAIN_REQUIRE_BROWSER=1) a failure."""
    binary = chromium_binary()
    if binary is None:
        message = "headless Chromium is not installed (apt-get install chromium)"
        if os.environ.get("RETAIN_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " but RETAIN_REQUIRE_BROWSER=1")
        pytest.skip(message)
    return binary


@pytest.fixture
def repo() -> Path:
    return REPO


# ------------------------------------------------------------------ one workflow run per session

WORKFLOW_PARTS = ("workflow", "config", "reports", "data/demo")


def snakemake(workdir: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", "workflow/Snakefile", "--cores", "2", *args],
        cwd=workdir, capture_output=True, text=True, check=False,
        env={**os.environ, "RETAIN_PSEUDONYM_KEY": ""},
    )  # fmt: skip


@pytest.fixture(scope="session")
def workflow_run(tmp_path_factory):
    """The demo workflow, run once for the whole session in a copy of the repository's workflow:
    (run directory, report formats, the `report` config used). HTML and, with Chromium, PDF."""
    import json

    reuse = os.environ.get("RETAIN_TEST_RUN_DIR")  # a finished run to test against, while iterating locally
    if reuse:
        return Path(reuse), ["html", "pdf"] if chromium_binary() else ["html"], {"quarters": [], "formats": ["html", "pdf"], "engine": "auto"}
    workdir = tmp_path_factory.mktemp("retain-run")
    for part in WORKFLOW_PARTS:
        shutil.copytree(REPO / part, workdir / part)
    formats = ["html", "pdf"] if chromium_binary() else ["html"]
    report = {"quarters": [], "formats": formats, "engine": "auto"}
    done = snakemake(workdir, "--config", f"report={json.dumps(report)}")
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir, formats, report
