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
    params:
        code=rule_code("compute_turnover"),
    threads: 1  # see compute_engagement
    resources:
        mem_mb=8000,
        runtime=60,
    log:
        "logs/compute_turnover/turnover.log",
    script:
        RUN_RULE


rule count_engagement:
    # One slice of the answers (config partition:, docs/cluster.md): integer counts per wave, team
    # and driver, summed by compute_engagement. Unpartitioned, one slice ("all_all") counts everything.
    input:
        responses="results/canonical/survey_responses.parquet",
        catalogue="results/canonical/survey_items.parquet",
        employees="results/canonical/employees.parquet",
    output:
        **{kind: temp(path) for kind, path in pipeline.engagement_partial_outputs("{part}").items()},
    params:
        code=rule_code("count_engagement"),
        slice=lambda wildcards: pipeline.engagement_slices(config)[wildcards.part],
        favourable_min=config["survey"]["favourable_min"],
    threads: 2
    # Scheduling on a small machine (docs/performance.md, finding 15): the counts use both cores, so
    # they go first; then the longest model fit (fit_survival, the critical path), then rank_drivers.
    priority: 3
    resources:
        mem_mb=8000,
        runtime=60,
    log:
        "logs/count_engagement/{part}.log",
    wildcard_constraints:
        part=pipeline.one_of(list(pipeline.engagement_slices(config))),
    script:
        RUN_RULE


rule compute_engagement:
    input:
        responses="results/canonical/survey_responses.parquet",
        catalogue="results/canonical/survey_items.parquet",
        employees="results/canonical/employees.parquet",
        partials=pipeline.engagement_partial_files(config),
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
    params:
        code=rule_code("compute_engagement"),
    # Declared 1 (its Polars pool still uses every core): on a 2-core machine it then runs beside a
    # single-threaded model fit instead of waiting for both cores (benchmark: docs/performance.md,
    # finding 15). The cluster profiles give it 2 CPUs (set-threads).
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    log:
        "logs/compute_engagement/engagement.log",
    script:
        RUN_RULE


rule collect_numbers:
    input:
        **TABLES,
        ingest_manifest="results/ingest/manifest.json",
    output:
        numbers="results/numbers/{quarter}.json",
    params:
        code=rule_code("collect_numbers"),
        numbers=pipeline.exhibit_params(config, "quarterly"),
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/collect_numbers/{quarter}.log",
    script:
        RUN_RULE


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
    params:
        code=rule_code("evaluate_programmes"),
    resources:
        mem_mb=8000,
        runtime=60,
    log:
        "logs/evaluate_programmes/programmes.log",
    script:
        RUN_RULE


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
        code=rule_code("fit_survival"),
        retention=config["retention"],
        period=config["period"],
        min_group_size=config["privacy"]["min_group_size"],
    priority: 2
    resources:
        mem_mb=16000,
        runtime=120,
    log:
        "logs/fit_survival/survival.log",
    script:
        RUN_RULE


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
    params:
        code=rule_code("rank_drivers"),
    priority: 1
    resources:
        mem_mb=8000,
        runtime=120,
    log:
        "logs/rank_drivers/drivers.log",
    script:
        RUN_RULE
