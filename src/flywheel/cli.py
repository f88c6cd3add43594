"""`flywheel`: the command-line front for everything local.

Each subcommand lives with its layer and is imported only when called, so `flywheel --help` stays fast
and a Lambda-sized install never imports torch. A command is `"name": ("module:function", "help")`;
the function takes the remaining argv and returns an exit code.

    flywheel --help
    flywheel demo --out runs/demo
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("flywheel.local.demo:main", "prepare a corpus, train a small model and sample from it"),
    "turn": ("flywheel.local.turn:main", "one whole turn of the loop locally, ending with a measured verdict"),
    "prepare-data": ("flywheel.data.prepare:main", "clean and tokenize a folder of text into shards"),
    "train": ("flywheel.training.job:main", "run the training job (same script SageMaker runs)"),
    "sample": ("flywheel.model.sample:main", "sample from a trained model artifact"),
    "serve": ("flywheel.serving.serve:main", "run the inference server (the container's serve)"),
    "export-hf": ("flywheel.model.export:main", "export an artifact to the transformers GPT-2 format"),
    "up": ("flywheel.local.api:main", "serve the OpenAI-compatible API locally (moto, endpoint, handlers)"),
    "preferences": ("flywheel.feedback.lake:main", "build preference pairs from the lake's interactions and feedback"),
    "drift": ("flywheel.observability.drift:main", "score captured prompts against the training baseline (DriftScore)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: flywheel COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in sorted(COMMANDS.items())]
    lines += ["", "Run `flywheel COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"flywheel: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, _, function = COMMANDS[name][0].partition(":")
    return int(getattr(importlib.import_module(module), function)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
