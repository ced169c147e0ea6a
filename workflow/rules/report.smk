# Reports: render the Quarto templates; they load figures and numbers by ID.


rule render_quarterly:
    input:
        template="reports/quarterly.qmd",
        numbers="results/numbers/{quarter}.json",
        figures=pipeline.figure_files("{quarter}"),
    output:
        **pipeline.quarterly_outputs(config, "{quarter}"),
        render_record="results/reports/{quarter}/render.json",
    params:
        engine=config["report"]["engine"],
        formats=config["report"]["formats"],
    log:
        "logs/render_quarterly/{quarter}.log",
    run:
        pipeline.run_logged(log[0], pipeline.render_quarterly, input, output, config, wildcards.quarter)
