"""The SageMaker training job entry point for preference tuning: DPO, or a Bradley–Terry reward model.

One process (a laptop; every SageMaker path has a flag):

    python training_jobs/preference.py --objective dpo --init-from runs/champion \
        --train-dir runs/prefs --model-dir runs/challenger --output-data-dir runs/out \
        --checkpoint-dir runs/ckpt --failure-file runs/failure --max-steps 50

    python training_jobs/preference.py --objective reward --init-from runs/champion ... --model-dir runs/rm

N processes with DDP, as SageMaker's Torchrun driver launches it:

    torchrun --nproc-per-node 2 training_jobs/preference.py --objective dpo --init-from ... ...

On SageMaker the defaults apply: SM_CHANNEL_PREFERENCES (else SM_CHANNEL_TRAIN) holds the pairs
(JSONL or Parquet of prompt / chosen / rejected), SM_CHANNEL_HELDOUT the held-out pairs (optional),
SM_MODEL_DIR, SM_OUTPUT_DATA_DIR, /opt/ml/checkpoints, /opt/ml/output/failure. The job itself, read top
to bottom, is `flywheel.feedback.tuning`; this file only makes it runnable as a script.
"""

import sys
from pathlib import Path

try:
    from flywheel.feedback.tuning import main
except ModuleNotFoundError:  # a source checkout without `pip install`: use its src/ folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from flywheel.feedback.tuning import main

if __name__ == "__main__":
    sys.exit(main())
