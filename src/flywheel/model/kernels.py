"""Compiled CPU kernels for the decode step, built on first use by torch's C++ extension loader.

- `decode_attention()` is `torch.ops.flywheel.decode_attention` (csrc/decode_attention.cpp): a decode
  step's attention over a float32 or float16 KV cache, which first writes the step's keys and values into it;
  each row reads only its own positions (a shared prefix from its one copy), in a fixed order of
  float operations, so a row's result never depends on its batch.
- `fp16_linear()` is `torch.ops.flywheel.fp16_linear` (csrc/fp16_linear.cpp): a Linear layer over
  float16 weights, which `quant.Fp16Linear` runs at every row count where it is built: three times
  fbgemm's float16 kernel's speed at one row, faster up to 64 rows and within 4% at 256, and a row's
  numbers never depend on its batch, where fbgemm's AVX2 kernel's do (tests/model/test_kernels.py).
- `int8_linear()` is `torch.ops.flywheel.int8_linear` (csrc/int8_linear.cpp): a Linear layer over int8
  weights that quantizes each input row on its own scale inside the call (flywheel.model.quant), with
  8-bit activations through AVX-512 VNNI where the CPU has it, 7-bit through AVX2 elsewhere
  (`int8_bits()`).

All three are compiled into one extension once per machine (about 20 s; the sources' hash names the build,
which torch keeps under TORCH_EXTENSIONS_DIR, ~/.cache/torch_extensions by default) and loaded once
per process. Where it cannot be built (no C++ compiler) all three are None, with one warning in the log,
and the decoder uses torch's attention and fbgemm instead; FLYWHEEL_KERNELS=off asks for that on
purpose.

They are x86-64 code for AVX2 with FMA and F16C (every x86 CPU SageMaker offers has all three), so
an image built on one instance type runs on another; the int8 Linear's AVX-512 functions run only
where the CPU says it has AVX-512 VNNI (Cascade Lake and later Xeons, AMD Zen 4). Other CPUs
(Graviton, say: never measured) use torch's ops and fbgemm.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from pathlib import Path

import torch

log = logging.getLogger(__name__)

SOURCES = [Path(__file__).resolve().parent / "csrc" / name
           for name in ("decode_attention.cpp", "fp16_linear.cpp", "int8_linear.cpp")]
_X86 = platform.machine().lower() in ("x86_64", "amd64")
_lock = threading.Lock()
_loaded: dict[str, object] = {}


def enabled() -> bool:
    """Not turned off (FLYWHEEL_KERNELS), and an x86-64 CPU with AVX2: where the kernel is used if it builds."""
    off = os.environ.get("FLYWHEEL_KERNELS", "on").lower() in ("off", "0", "false", "no")
    return not off and _X86 and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def decode_attention():
    """The compiled attention op, or None (turned off, another CPU, or the build failed: logged once)."""
    return _op("decode_attention")


def fp16_linear():
    """The compiled float16-weight Linear op, `op(x, panels, bias, n)` (panels from
    `flywheel.model.quant.fp16_panels`), or None, as `decode_attention`."""
    return _op("fp16_linear")


def int8_linear():
    """The compiled int8 Linear op, `op(x, panels, colsum, wscale, bias, n, bits)` (operands from
    `flywheel.model.quant.int8_panels`, `bits` from `int8_bits()`), or None, as `decode_attention`."""
    return _op("int8_linear")


def int8_bits() -> int:
    """The activation bits the int8 Linear runs at here: 8 on CPUs with AVX-512 VNNI, 7 elsewhere."""
    return int(torch.ops.flywheel.int8_linear_bits())


def _op(name: str):
    if not enabled():
        return None
    with _lock:
        if "built" not in _loaded:
            _loaded["built"] = _build()
        return getattr(torch.ops.flywheel, name).default if _loaded["built"] else None


def _build():
    from torch.utils import cpp_extension

    try:
        import ninja  # the build tool torch drives; its pip package carries the binary

        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
    except ImportError:
        pass  # a system ninja, if any, is on PATH already
    flags = ["-O3", "-fopenmp", "-ffp-contract=off", "-mavx2", "-mfma", "-mf16c"]
    try:
        # -fopenmp compiles at::parallel_for's region; nothing links libgomp, so it runs on the
        # OpenMP runtime torch already loaded (one worker team, not two). -ffp-contract=off: the
        # kernel spells out its fused multiply-adds, and the compiler adds none of its own.
        cpp_extension.load(name="flywheel_kernels", sources=[str(s) for s in SOURCES], extra_cflags=flags,
                           is_python_module=False, verbose=False)
    except Exception as exc:  # noqa: BLE001 - no compiler, no headers: serve with torch's ops
        log.warning("flywheel's CPU kernels could not be built (%s); using torch's attention and fbgemm",
                    str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__)
        return False
    return True


if __name__ == "__main__":  # `python -m flywheel.model.kernels`: build now (make install does), say how it went
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    op = decode_attention()
    print("flywheel CPU kernels (attention, fp16 linear, int8 linear):",
          f"built (int8 activations at {int8_bits()} bits on this CPU)" if op is not None else
          "not used here (FLYWHEEL_KERNELS=off, or not an x86-64 CPU with AVX2)" if not enabled() else
          "could not be built: torch's attention and fbgemm will be used")
