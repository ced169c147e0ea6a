# Config validation and the helpers rules use to name their inputs.
from analysis import pipeline

pipeline.validate_config(config)

SURVEY_SOURCES = pipeline.survey_sources(config)
QUARTERS = pipeline.report_quarters(config)
TABLES = pipeline.TABLES


wildcard_constraints:
    quarter=r"[0-9]{4}Q[1-4]",
    source=pipeline.alternatives(SURVEY_SOURCES),


def survey_source_path(wildcards):
    return SURVEY_SOURCES[wildcards.source]["path"]


def survey_source_profile(wildcards):
    return SURVEY_SOURCES[wildcards.source]["profile_path"]


def table_input_path(wildcards):
    return config["inputs"][pipeline.TABLE_INPUTS[wildcards.table]]["path"]


def table_input_profile(wildcards):
    return pipeline.profile_file(config["inputs"][pipeline.TABLE_INPUTS[wildcards.table]]["profile"])


def report_outputs():
    return pipeline.report_outputs(config)
