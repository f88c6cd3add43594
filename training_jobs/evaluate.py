"""The evaluation entry point: challenger against champion, evaluation.json, and the gate's verdict.

Locally:

    python training_jobs/evaluate.py --model runs/challenger --champion runs/champion \
        --preferences runs/prefs --reward-model runs/rm --output runs/eval

In the SageMaker Pipeline (a Processing step; the condition step reads evaluation.json's `gate`):

    evaluate.py --model /opt/ml/processing/input/model --data /opt/ml/processing/input/shards \
        --output /opt/ml/processing/output/evaluation

What it measures and how the gate decides: `flywheel.feedback.evaluation` and `flywheel.feedback.gate`.
"""

import sys
from pathlib import Path

try:
    from flywheel.feedback.evaluation import main
except ModuleNotFoundError:  # a source checkout without `pip install`: use its src/ folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from flywheel.feedback.evaluation import main

if __name__ == "__main__":
    sys.exit(main())
