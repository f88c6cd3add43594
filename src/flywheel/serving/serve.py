"""Run the inference server: what the container's `serve` executable and `flywheel serve` both call.

With SAGEMAKER_MULTI_MODEL=true it answers the multi-model contract (/ping, /models...); otherwise it
loads the one model in /opt/ml/model (FLYWHEEL_MODEL_DIR) and answers /ping and /invocations. Every
setting is an environment variable (see flywheel.serving.settings). It prints one line
`flywheel-serve listening on HOST:PORT ...` once it accepts connections (port 0 picks a free one).
Exits non-zero, saying why, when the single model cannot be loaded.

    SAGEMAKER_MULTI_MODEL=true SAGEMAKER_BIND_TO_PORT=8080 flywheel serve
    FLYWHEEL_MODEL_DIR=runs/demo/model flywheel serve
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from flywheel.serving.errors import ServingError
from flywheel.serving.http import SINGLE_MODEL, InferenceServer
from flywheel.serving.registry import ModelRegistry
from flywheel.serving.settings import ServerSettings


def main(argv: list[str] | None = None) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = ServerSettings.from_env()
    except ValueError as exc:
        print(f"flywheel-serve: bad setting: {exc}", file=sys.stderr)
        return 2
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    registry = ModelRegistry(settings)
    if not settings.multi_model:
        try:
            registry.load(SINGLE_MODEL, settings.model_dir)
        except ServingError as exc:  # the container cannot serve: say why and exit, SageMaker reports it
            print(f"flywheel-serve: cannot load {settings.model_dir}: {exc}", file=sys.stderr)
            return 1
    server = InferenceServer(settings, registry)
    # SageMaker stops containers with SIGTERM: stop accepting, finish this HTTP turn, exit.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    host, port = server.server_address[:2]
    mode = "multi-model" if settings.multi_model else f"single-model ({settings.model_dir})"
    print(f"flywheel-serve listening on {host}:{port} {mode}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
