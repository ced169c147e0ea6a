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
        code=rule_code("build_figures"),
        exhibits=pipeline.exhibit_params(config, "quarterly"),
    resources:
        mem_mb=4000,
        runtime=20,
    log:
        "logs/build_figures/{quarter}.log",
    script:
        RUN_RULE


rule build_research_figures:
    input:
        **pipeline.exhibit_inputs("research"),
        catalogue=pipeline.message_catalogue(),
    output:
        **reported_exhibits("research", pipeline.research_label()),
    params:
        code=rule_code("build_research_figures"),
        exhibits=pipeline.exhibit_params(config, "research"),
    resources:
        mem_mb=4000,
        runtime=20,
    log:
        "logs/build_research_figures/research.log",
    script:
        RUN_RULE
