# Figures: the charts and tables the reports show (analysis/exhibits.py declares each one and the
# tables it reads, so these inputs and outputs follow the registry). Spec + data + SVG per chart.
# Every file is a report() item (reported_exhibits, common.smk): captions under workflow/report/.


rule build_figures:
    input:
        **pipeline.exhibit_inputs("quarterly"),
        catalogue=pipeline.message_catalogue(),
    output:
        **reported_exhibits("quarterly", "{quarter}"),
    params:
        exhibits=pipeline.exhibit_params(config, "quarterly"),
    resources:
        mem_mb=4000,
        runtime=20,
    log:
        "logs/build_figures/{quarter}.log",
    run:
        pipeline.run_logged(log[0], pipeline.figures, input, output, config, wildcards.quarter)


rule build_research_figures:
    input:
        **pipeline.exhibit_inputs("research"),
        catalogue=pipeline.message_catalogue(),
    output:
        **reported_exhibits("research", pipeline.research_label()),
    params:
        exhibits=pipeline.exhibit_params(config, "research"),
    resources:
        mem_mb=4000,
        runtime=20,
    log:
        "logs/build_research_figures/research.log",
    run:
        pipeline.run_logged(log[0], pipeline.research_figures, input, output, config)
