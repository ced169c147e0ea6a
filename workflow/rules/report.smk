# Reports: render the Quarto templates; they load figures, tables and numbers by ID.
# Both renders also read the theme and the message catalogue (pipeline.report_theme()).


rule render_quarterly:
    input:
        build_manifest="results/audit/build_manifest.json",
        template="reports/quarterly.qmd",
        theme=pipeline.report_theme(),
        numbers="results/numbers/{quarter}.json",
        figures=pipeline.figure_files("{quarter}"),
    output:
        **pipeline.quarterly_outputs(config, "{quarter}"),
        render_record="results/reports/{quarter}/render.json",
    params:
        code=rule_code("render_quarterly"),
        engine=config["report"]["engine"],
        formats=config["report"]["formats"],
        language=config["report"].get("language", "en"),
        organisation=config["organisation"],
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/render_quarterly/{quarter}.log",
    script:
        RUN_RULE


rule render_research:
    input:
        build_manifest="results/audit/build_manifest.json",
        template="reports/research.qmd",
        theme=pipeline.report_theme(),
        figures=pipeline.research_files(),
    output:
        **pipeline.research_outputs(),
        render_record="results/reports/research.render.json",
    params:
        code=rule_code("render_research"),
        engine=config["report"]["engine"],
        language=config["report"].get("language", "en"),
        organisation=config["organisation"],
        period=config["period"],
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "logs/render_research/research.log",
    script:
        RUN_RULE
