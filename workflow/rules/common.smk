# Config validation and the helpers rules use to name their inputs.
import mimetypes
import os

from analysis import pipeline

pipeline.validate_config(config)

SURVEY_SOURCES = pipeline.survey_sources(config)
QUARTERS = pipeline.report_quarters(config)
TABLES = pipeline.TABLES
# Every rule is a `script:` rule running this one script (relative to rules/): it calls the rule's
# function (analysis/pipeline.py, RULES) in one Python process, without re-parsing the workflow.
RUN_RULE = "../scripts/run_rule.py"


def rule_code(rule):
    """The `code` param of a rule: the hash of the code its jobs run (pipeline.rule_code)."""
    return pipeline.rule_code(rule, os.path.join(workflow.basedir, "scripts", "run_rule.py"))


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


def reported_exhibits(scope, label):
    """The exhibit outputs of a scope, each a report() item (caption, category, labels) for snakemake --report."""
    return {name: report(path, **flags) for name, (path, flags) in pipeline.exhibit_report_items(scope, label).items()}


# snakemake --report offers Parquet files as downloads instead of showing them as text.
mimetypes.add_type("application/vnd.apache.parquet", ".parquet")
