# Figures: for each report quarter, Altair spec + data + SVG per figure.


rule build_figures:
    input:
        turnover="results/tables/turnover.parquet",
        engagement="results/tables/engagement.parquet",
    output:
        **pipeline.figure_outputs("{quarter}"),
    log:
        "logs/build_figures/{quarter}.log",
    run:
        pipeline.run_logged(log[0], pipeline.figures, input, output, config, wildcards.quarter)
