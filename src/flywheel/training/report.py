"""What the training job prints: regex-friendly metric lines, and a progress bar on a terminal.

Lines look like `step=120 train_loss=3.412345 lr=6.000e-04 tokens_per_sec=5210.3`, which the
SageMaker metric definitions match with `train_loss=([0-9.eE+-]+)` and friends. Only rank 0 prints.
The bar is drawn only when stdout is a TTY, so logs captured by CloudWatch or a pipe stay clean lines.
When the model is saved, `metric_lines(version, history)` gives the run's curve as the catalogue's EMF
lines (`train_loss`, `val_loss`, `tokens_per_sec`, dimension ModelVersion): the version is known only
then, since it names the final weights.
"""

from __future__ import annotations

import math
import sys


class Reporter:
    def __init__(self, enabled: bool, total_steps: int, stream=None):
        self.enabled = enabled
        self.total = total_steps
        self.stream = stream or sys.stdout
        self.bar = enabled and self.stream.isatty()
        self._drawn = False

    def log(self, line: str) -> None:
        if not self.enabled:
            return
        if self._drawn:
            self.stream.write("\r\x1b[2K")  # erase the bar; it is redrawn on the next step
            self._drawn = False
        self.stream.write(line + "\n")
        self.stream.flush()

    def progress(self, step: int) -> None:
        if not self.bar:
            return
        width = 30
        filled = int(width * step / max(self.total, 1))
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {step}/{self.total}")
        self.stream.flush()
        self._drawn = True


def metric_lines(version: str, history: list[dict]) -> list[str]:
    """The history's train_loss, val_loss and tokens_per_sec as EMF lines under `version`, at most 150
    values a line (EMF's limit); non-finite values (a diverged run) are left to the text lines."""
    from flywheel.observability.catalogue import emf_line

    lines = []
    for name in ("train_loss", "val_loss", "tokens_per_sec"):
        values = [float(h[name]) for h in history if h.get(name) is not None and math.isfinite(h[name])]
        lines += [emf_line(name, values[i:i + 150], {"ModelVersion": version}) for i in range(0, len(values), 150)]
    return lines
