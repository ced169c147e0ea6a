import copy

import pytest
import yaml

from analysis import config as cfg
from conftest import REPO


@pytest.fixture
def demo():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def test_demo_config_is_valid(demo):
    assert cfg.validate(copy.deepcopy(demo)) == demo
    assert cfg.report_quarters(demo) == [demo["period"]["end"]]


def test_misspelt_key_fails_loudly_with_a_suggestion(demo):
    demo["privacy"]["min_grup_size"] = 5
    with pytest.raises(cfg.ConfigError, match=r"privacy: unknown key 'min_grup_size' \(did you mean 'min_group_size'\?\)"):
        cfg.validate(demo)


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("privacy", "min_group_size"), 2, "minimum"),
        (("period", "end"), "2026-Q3", "does not match"),
        (("report", "formats"), ["docx"], "is not one of"),
        (("ingest", "mode"), "lenient", "is not one of"),
    ],
)
def test_bad_values_name_the_key(demo, path, value, message):
    demo[path[0]][path[1]] = value
    with pytest.raises(cfg.ConfigError, match=f"{path[0]}.{path[1]}.*{message}"):
        cfg.validate(demo)


def test_period_must_run_forwards_and_report_quarters_inside_it(demo):
    demo["period"]["start"] = "2027Q1"
    with pytest.raises(cfg.ConfigError, match="after its end"):
        cfg.validate(copy.deepcopy(demo))
    demo["period"]["start"] = "2023Q4"
    demo["report"]["quarters"] = ["2022Q1"]
    with pytest.raises(cfg.ConfigError, match="outside the period"):
        cfg.validate(demo)


def test_unknown_profile_suggests_near_names():
    with pytest.raises(cfg.ConfigError, match="did you mean qualtrics_wide"):
        cfg.profile_path("qualtrics_wid")


def test_report_quarters_sorted_and_unique(demo):
    demo["report"]["quarters"] = ["2024Q2", "2026Q3"]
    assert cfg.report_quarters(demo) == ["2024Q2", "2026Q3"]
