"""The SageMaker training job entry point: pretraining or SFT of the Flywheel GPT on a shard channel.

One process (a laptop; every SageMaker path has a flag):

    python training_jobs/train.py --preset debug --max-steps 200 --train-dir runs/shards \
        --model-dir runs/model --output-data-dir runs/out --checkpoint-dir runs/ckpt \
        --failure-file runs/failure

N processes with DDP (gloo on CPU, NCCL on GPU), as SageMaker's Torchrun driver launches it:

    torchrun --nproc-per-node 2 training_jobs/train.py --preset debug --max-steps 200 \
        --train-dir runs/shards --model-dir runs/model --checkpoint-dir runs/ckpt

On SageMaker the defaults apply: SM_CHANNEL_TRAIN, SM_CHANNEL_VALIDATION, SM_MODEL_DIR,
SM_OUTPUT_DATA_DIR, /opt/ml/checkpoints, /opt/ml/output/failure. The job itself, read top to bottom
(parse → init distributed → build → loop → save), is `flywheel.training.job`; this file only makes it
runnable as a script, from an installed library or straight from a checkout.
"""

import sys
from pathlib import Path

try:
    from flywheel.training.job import main
except ModuleNotFoundError:  # a source checkout without `pip install`: use its src/ folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from flywheel.training.job import main

if __name__ == "__main__":
    sys.exit(main())
