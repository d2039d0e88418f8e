"""Keep the runtimes' harmless chatter off the console, and everything else on it.

Loading or exporting a model prints lines that tell a user nothing: torchao's missing CUDA
kernels, torch's pytree deprecations, ExecuTorch's cpuinfo and threadpool notes, LiteRT's
delegate and op-count lines, ONNX Runtime's "consider pre-processing" hint, torch.onnx's
"torchvision is not installed". ``quiet_runtime()`` sets those loggers to ERROR, ignores
those warnings, and captures file descriptor 2 (where C++ code writes) for the duration:
lines that match ``HARMLESS`` are dropped, every other line is written back to stderr
when the block ends. Nothing is hidden that could be an error.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings

HARMLESS = (
    "[cpuinfo_utils.cpp", "[threadpool.cpp", "Failed to load /",  # ExecuTorch, torchao
    "is an Enum subclass and is now natively supported",  # torch pytree
    "torchvision is not installed. Skipping",  # torch.onnx
    "flatbuffer_export.cc", "All log messages before absl::InitializeLog()",  # LiteRT converter
    "INFO: Created TensorFlow Lite XNNPACK delegate",  # LiteRT interpreter
    "pre-processing before quantization", "run pre-processing before quantization",  # ONNX Runtime
)
LOGGERS = ("torchao", "torch.utils._pytree", "torch.onnx")


def harmless(line: str) -> bool:
    return any(k in line for k in HARMLESS)


@contextlib.contextmanager
def quiet_runtime():
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 to redirect
            yield
            return
        with tempfile.TemporaryFile() as tmp:
            sys.stderr.flush()
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                keep = [ln for ln in tmp.read().decode("utf-8", "replace").splitlines()
                        if ln.strip() and not harmless(ln)]
                if keep:
                    sys.stderr.write("\n".join(keep) + "\n")
                    sys.stderr.flush()
