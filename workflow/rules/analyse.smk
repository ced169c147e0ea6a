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
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
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
        reliability=report(
            "results/tables/reliability.parquet",
            caption="../report/reliability.rst",
            category="Tables",
            labels={"table": "reliability"},
        ),
        engagement_change=report(
            "results/tables/engagement_change.parquet",
            caption="../report/engagement_change.rst",
            category="Tables",
            labels={"table": "engagement_change"},
        ),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
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
    params:
        numbers=pipeline.exhibit_params(config, "quarterly"),
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/collect_numbers/{quarter}.log",
    run:
        pipeline.run_logged(log[0], pipeline.numbers, input, output, config, wildcards.quarter)


rule evaluate_programmes:
    input:
        employees="results/canonical/employees.parquet",
        interventions=expand(
            "results/canonical/{table}.parquet",
            table=[t for t in pipeline.single_tables(config) if t == "interventions"],
        ),
        responses="results/canonical/survey_responses.parquet",
        catalogue="results/canonical/survey_items.parquet",
    output:
        effects=report(
            "results/tables/programme_effects.parquet",
            caption="../report/programme_effects.rst",
            category="Tables",
            labels={"table": "programme_effects"},
        ),
        event_study=report(
            "results/tables/programme_event_study.parquet",
            caption="../report/programme_event_study.rst",
            category="Tables",
            labels={"table": "programme_event_study"},
        ),
        group_time=report(
            "results/tables/programme_group_time.parquet",
            caption="../report/programme_group_time.rst",
            category="Tables",
            labels={"table": "programme_group_time"},
        ),
        savings=report(
            "results/tables/programme_savings.parquet",
            caption="../report/programme_savings.rst",
            category="Tables",
            labels={"table": "programme_savings"},
        ),
    resources:
        mem_mb=8000,
        runtime=60,
    log:
        "logs/evaluate_programmes/programmes.log",
    run:
        from analysis import programmes

        pipeline.run_logged(log[0], programmes.run_rule, input, output, config)


rule fit_survival:
    input:
        employees="results/canonical/employees.parquet",
        responses="results/canonical/survey_responses.parquet",
        catalogue="results/canonical/survey_items.parquet",
    output:
        km_curves=report(
            "results/tables/km_curves.parquet",
            caption="../report/km_curves.rst",
            category="Tables",
            labels={"table": "km_curves"},
        ),
        km_logrank=report(
            "results/tables/km_logrank.parquet",
            caption="../report/km_logrank.rst",
            category="Tables",
            labels={"table": "km_logrank"},
        ),
        cox_hazard_ratios=report(
            "results/tables/cox_hazard_ratios.parquet",
            caption="../report/cox_hazard_ratios.rst",
            category="Tables",
            labels={"table": "cox_hazard_ratios"},
        ),
        exit12_odds_ratios=report(
            "results/tables/exit12_odds_ratios.parquet",
            caption="../report/exit12_odds_ratios.rst",
            category="Tables",
            labels={"table": "exit12_odds_ratios"},
        ),
        competing_risks_cif=report(
            "results/tables/competing_risks_cif.parquet",
            caption="../report/competing_risks_cif.rst",
            category="Tables",
            labels={"table": "competing_risks_cif"},
        ),
        competing_risks_hr=report(
            "results/tables/competing_risks_hr.parquet",
            caption="../report/competing_risks_hr.rst",
            category="Tables",
            labels={"table": "competing_risks_hr"},
        ),
        team_panel=report(
            "results/tables/team_panel.parquet",
            caption="../report/team_panel.rst",
            category="Tables",
            labels={"table": "team_panel"},
        ),
    params:
        retention=config["retention"],
        period=config["period"],
        min_group_size=config["privacy"]["min_group_size"],
    resources:
        mem_mb=16000,
        runtime=120,
    log:
        "logs/fit_survival/survival.log",
    run:
        from analysis import survival

        pipeline.run_logged(log[0], survival.run_rule, input, output, config)


rule rank_drivers:
    input:
        responses="results/canonical/survey_responses.parquet",
        catalogue="results/canonical/survey_items.parquet",
        employees="results/canonical/employees.parquet",
    output:
        driver_importance=report(
            "results/tables/driver_importance.parquet",
            caption="../report/driver_importance.rst",
            category="Tables",
            labels={"table": "driver_importance"},
        ),
    resources:
        mem_mb=8000,
        runtime=120,
    log:
        "logs/rank_drivers/drivers.log",
    run:
        from analysis import drivers

        pipeline.run_logged(log[0], drivers.run_rule, input, output, config)
