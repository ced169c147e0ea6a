# The one script every rule of the workflow runs: the analysis function its rule names in
# analysis/pipeline.py (RULES), with the job's inputs, outputs, config, wildcards and log.
# A `script:` job runs in one Python process; a `run:` job would start a Snakemake process that
# parses the whole workflow again (seconds per job).
import os
import sys

# Import `analysis` from where the Snakemake process that parsed the workflow (and hashed the
# rule's code, pipeline.rule_code) imported it: `python -m snakemake` puts the run directory
# first on sys.path, a script's own interpreter does not.
sys.path.insert(0, os.getcwd())

from analysis import pipeline  # noqa: E402

pipeline.run_job(snakemake)  # noqa: F821 (Snakemake defines `snakemake` in the script's preamble)
