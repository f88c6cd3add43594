"""The feedback layer: what users say about answers, turned into the data and the decisions of the next turn.

- `preferences`: interactions + feedback → TRL-format preference pairs, unpaired labels, SFT corrections,
  every drop counted with its reason; `lake`: the same from and to the lake (Firehose events in, Parquet +
  Glue out; `flywheel preferences`); `channel`: the folder of pairs the preference job reads.
- `batching`, `dpo`, `reward`: the mathematics of preference tuning (DPO against a frozen champion, with
  an optional RPO term; a Bradley–Terry reward model on the GPT body).
- `tuning`: the preference-tuning job (`training_jobs/preference.py`) on the training job's machinery.
- `evaluation`: challenger against champion (`training_jobs/evaluate.py`), writing evaluation.json.
- `gate`: promote-or-not for a challenger, and the canary rollout's pure state machine; `rollout`: the
  routing record's conditional writes and the model registry.
- `constitution` (+ `constitution.yaml`): Constitutional AI's critique, revision and AI-feedback judge.
- `users`: the simulated users' stated preference, shared by the demo and the judge.

Modules import torch only where they need it, so the pure parts (preferences, gate, users) stay light.
"""
