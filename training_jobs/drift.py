"""The drift entry point: live prompts from the endpoint's data capture against the training baseline.

Locally:

    python training_jobs/drift.py --captures runs/capture --baseline runs/curated \
        --tokenizer runs/model/tokenizer.json --model-version v3 --output runs/drift --publish

As a SageMaker Processing job (inputs arrive as local folders; the role needs cloudwatch:PutMetricData):

    drift.py --captures /opt/ml/processing/input/capture --baseline /opt/ml/processing/input/baseline \
        --tokenizer /opt/ml/processing/input/model --output /opt/ml/processing/output/drift --publish

It writes drift.json (the score and its parts) and baseline.json, prints the catalogue's DriftScore as
an EMF line and, with --publish, puts it to CloudWatch, where the drift alarm reads it. What the score
means: `flywheel.observability.drift`. Exit status 2 when there is nothing to score.
"""

import sys
from pathlib import Path

try:
    from flywheel.observability.drift import main
except ModuleNotFoundError:  # a source checkout without `pip install`: use its src/ folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from flywheel.observability.drift import main

if __name__ == "__main__":
    sys.exit(main())
