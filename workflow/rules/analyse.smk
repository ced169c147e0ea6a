# Analyses: each writes documented tables (docs/tables.md) through the privacy gate.


rule compute_turnover:
    input:
        employees="results/canonical/employees.parquet",
    output:
        turnover=report(
            "results/tables/turnover.parquet",
            caption="../report/turnover.rst",
            category="Tables",
            labels={"table": "turnover"},
        ),
        cost=report(
            "results/tables/cost.parquet",
            caption="../report/cost.rst",
            category="Tables",
            labels={"table": "cost"},
        ),
    log:
        "logs/compute_turnover/turnover.log",
    run:
        pipeline.run_logged(log[0], pipeline.turnover, input, output, config)


rule compute_engagement:
    input:
        responses="results/canonical/survey_responses.parquet",
        catalogue="results/canonical/survey_items.parquet",
        employees="results/canonical/employees.parquet",
    output:
        engagement=report(
            "results/tables/engagement.parquet",
            caption="../report/engagement.rst",
            category="Tables",
            labels={"table": "engagement"},
        ),
        enps=report(
            "results/tables/enps.parquet",
            caption="../report/enps.rst",
            category="Tables",
            labels={"table": "enps"},
        ),
        response_rates=report(
            "results/tables/response_rates.parquet",
            caption="../report/response_rates.rst",
            category="Tables",
            labels={"table": "response_rates"},
        ),
    log:
        "logs/compute_engagement/engagement.log",
    run:
        pipeline.run_logged(log[0], pipeline.engagement, input, output, config)


rule collect_numbers:
    input:
        **TABLES,
        ingest_manifest="results/ingest/manifest.json",
    output:
        numbers="results/numbers/{quarter}.json",
    log:
        "logs/collect_numbers/{quarter}.log",
    run:
        pipeline.run_logged(log[0], pipeline.numbers, input, output, config, wildcards.quarter)
