# Ingest: each export file is its own job, so a new file re-ingests only itself (and what uses it).
# Survey exports, and timesheets/assignments given as globs, are ingested per file and combined.
# Survey and assignment rows are checked against the roster's spells, so they wait for employees.

INGEST = pipeline.IngestInputs(config)


rule ingest_table:
    input:
        unpack(INGEST.table_links),
        export=table_input_path,
        profile=table_input_profile,
    output:
        table="results/canonical/{table}.parquet",
        rejects="results/rejects/{table}.csv",
        stats="results/ingest/{table}.json",
    params:
        code=rule_code("ingest_table"),
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/ingest_table/{table}.log",
    wildcard_constraints:
        table=pipeline.one_of(pipeline.single_tables(config)),
    script:
        RUN_RULE


rule ingest_survey:
    input:
        export=survey_source_path,
        profile=survey_source_profile,
        catalogue="results/canonical/survey_items.parquet",
        employees="results/canonical/employees.parquet",
    output:
        table="results/canonical/parts/survey_responses/{source}.parquet",
        rejects="results/rejects/{source}.csv",
        stats="results/ingest/{source}.json",
    params:
        code=rule_code("ingest_survey"),
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/ingest_survey/{source}.log",
    script:
        RUN_RULE


rule ingest_part:
    input:
        unpack(INGEST.part_links),
        export=INGEST.part_path,
        profile=INGEST.part_profile,
    output:
        table="results/canonical/parts/{part}.parquet",
        rejects="results/rejects/{part}.csv",
        stats="results/ingest/{part}.json",
    params:
        code=rule_code("ingest_part"),
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/ingest_part/{part}.log",
    wildcard_constraints:
        part=pipeline.one_of(list(INGEST.parts)),
    script:
        RUN_RULE


rule combine_surveys:
    input:
        parts=expand("results/canonical/parts/survey_responses/{source}.parquet", source=sorted(SURVEY_SOURCES)),
    output:
        table="results/canonical/survey_responses.parquet",
    params:
        code=rule_code("combine_surveys"),
    resources:
        mem_mb=8000,
        runtime=30,
    log:
        "logs/combine_surveys/combine.log",
    script:
        RUN_RULE


rule combine_parts:
    input:
        parts=INGEST.parts_of_table,
    output:
        table="results/canonical/{table}.parquet",
    params:
        code=rule_code("combine_parts"),
    resources:
        mem_mb=8000,
        runtime=30,
    log:
        "logs/combine_parts/{table}.log",
    wildcard_constraints:
        table=pipeline.one_of(pipeline.part_tables(config)),
    script:
        RUN_RULE


rule write_ingest_manifest:
    input:
        stats=pipeline.ingest_stats_files(config),
    output:
        manifest="results/ingest/manifest.json",
    params:
        code=rule_code("write_ingest_manifest"),
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/write_ingest_manifest/manifest.log",
    script:
        RUN_RULE
