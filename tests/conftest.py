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
