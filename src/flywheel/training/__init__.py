"""The training layer: the machinery `training_jobs/train.py` drives (hyperparameters, distributed setup,
deterministic batches, the optimizer and schedule, atomic checkpoints, the step itself).

`job.main` is the flat entry point, parse → init distributed → build → loop → save; the other modules
are the pieces it wires together. The model is `flywheel.model`'s, wrapped here and never changed.
"""
