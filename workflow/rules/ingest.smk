# Ingest: each export file is its own job, so a new file re-ingests only itself.


rule ingest_table:
    input:
        export=table_input_path,
        profile=table_input_profile,
    output:
        table="results/canonical/{table}.parquet",
        rejects="results/rejects/{table}.csv",
        stats="results/ingest/{table}.json",
    log:
        "logs/ingest_table/{table}.log",
    wildcard_constraints:
        table="employees|timesheets|survey_items|interventions",
    run:
        pipeline.run_logged(log[0], pipeline.ingest, input, output, config)


rule ingest_survey:
    input:
        export=survey_source_path,
        profile=survey_source_profile,
        catalogue="results/canonical/survey_items.parquet",
    output:
        table="results/canonical/parts/survey_responses/{source}.parquet",
        rejects="results/rejects/{source}.csv",
        stats="results/ingest/{source}.json",
    log:
        "logs/ingest_survey/{source}.log",
    run:
        pipeline.run_logged(log[0], pipeline.ingest, input, output, config)


rule combine_surveys:
    input:
        parts=expand("results/canonical/parts/survey_responses/{source}.parquet", source=sorted(SURVEY_SOURCES)),
        stats=pipeline.ingest_stats_files(config),
    output:
        table="results/canonical/survey_responses.parquet",
        manifest="results/ingest/manifest.json",
    log:
        "logs/combine_surveys/combine.log",
    run:
        pipeline.run_logged(log[0], pipeline.combine, input, output)
