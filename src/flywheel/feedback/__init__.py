"""The feedback layer: what users say about answers, turned into the data and the decisions of the next turn.

- `preferences`: interactions + feedback → TRL-format preference pairs, unpaired labels, SFT corrections.
- `dpo`, `reward`: the mathematics of preference tuning (DPO against a frozen champion; a Bradley–Terry
  reward model on the GPT body).
- `gate`: promote-or-not for a challenger, and the canary rollout's pure state machine.

Modules here import torch only where they need it (`dpo`, `reward`), so the pure parts stay light.
"""
