# Audit: SHA-256 of every input and output, the config and the code version.


rule write_manifest:
    input:
        inputs=pipeline.input_files(config),
        outputs=pipeline.audited_outputs(config),
    output:
        manifest="results/audit/manifest.json",
    log:
        "logs/write_manifest/manifest.log",
    run:
        pipeline.run_logged(log[0], pipeline.manifest, input, output, config)
