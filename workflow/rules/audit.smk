# Audit: SHA-256 of every input and output, the config and the code version (docs/audit.md).
# The build manifest covers what the reports are built from and holds no timestamp, so a report
# can state its hash; the run manifest covers everything, with the job that wrote each output.


rule write_build_manifest:
    input:
        inputs=pipeline.input_files(config),
        profiles=pipeline.profile_files(config),
        outputs=pipeline.report_sources(config),
        ingest_manifest="results/ingest/manifest.json",
    output:
        manifest=report(
            "results/audit/build_manifest.json",
            caption="../report/build_manifest.rst",
            category="Audit",
            labels={"file": "build manifest"},
        ),
    params:
        code=rule_code("write_build_manifest"),
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/write_build_manifest/build_manifest.log",
    script:
        RUN_RULE


rule write_manifest:
    input:
        inputs=pipeline.input_files(config),
        profiles=pipeline.profile_files(config),
        outputs=pipeline.audited_outputs(config),
        ingest_manifest="results/ingest/manifest.json",
        build_manifest="results/audit/build_manifest.json",
    output:
        manifest=report(
            "results/audit/manifest.json",
            caption="../report/manifest.rst",
            category="Audit",
            labels={"file": "run manifest"},
        ),
    params:
        code=rule_code("write_manifest"),
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "logs/write_manifest/manifest.log",
    script:
        RUN_RULE
