"""What the exporter consumes: an ``ExportTarget``, generic over the model class.

Every backend (``pte``, ``tflite``, ``onnx``, ``torch``) takes the same
target: an eval-mode module whose input is the raw window ``(B, C, T)``
float32 in physical units (preprocessing lives inside the module), the task,
the input contract (``WindowSpec``), what the output means, example inputs
and provenance. ``target_from_checkpoint`` builds one from an imuedge
checkpoint; ``ExportTarget(...)`` directly wraps any other module.
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from imuedge.window import WindowSpec

TASKS = ("classify", "embed", "generate")


class ExportError(RuntimeError):
    """One format could not be exported (an un-lowerable op, a failed check).

    ``ops`` maps each offending op to the layers (module paths) it comes from.
    The other formats of the same ``imuedge export`` call still run.
    """

    def __init__(self, message: str, fmt: str = "", ops: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.format = fmt
        self.ops = dict(ops or {})


@dataclass
class ExportTarget:
    """A model ready for export.

    module: eval ``nn.Module``; input ``(B, C, T)`` float32, output
        ``(B, K)`` logits (classify) or ``(B, N)`` embeddings (embed).
    task: "classify" | "embed" | "generate".
    window: the input contract.
    output: ``{"class_names": [...]}`` or ``{"embedding_size": N}``.
    example_inputs: a tuple with one ``(1, C, T)`` tensor (the traced shape;
        pte/tflite graphs are exported at this batch size); a generator's are
        its noise and class ids, named by ``input_names``.
    float_modules: module paths kept in float32 by int8 export
        (the in-graph preprocessing: DFT, log, normalisation, resize).
    float_input_layer: int8 export keeps the first conv/linear block after
        ``float_modules`` (the stem conv reading the spectrogram image) float32.
    float_output_layer: int8 export keeps the layer that produces the output
        (a classifier's linear head) float32: int8 logits are quantized in
        steps of range/256 (0.13 on HAPT's +-17 logits), which flips close
        top-1 calls; the head is a few KB and microseconds.
    provenance: JSON-able facts about where the model came from.
    """

    module: nn.Module
    task: str
    window: WindowSpec
    output: dict
    example_inputs: tuple = ()
    float_modules: tuple[str, ...] = ()
    float_input_layer: bool = True
    float_output_layer: bool = True
    provenance: dict = field(default_factory=dict)
    input_names: tuple[str, ...] = ("window",)  # one per example input (a generator: noise, class_id)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.task == "classify" and "class_names" not in self.output:
            raise ValueError("a classify target needs output={'class_names': [...]}")
        if self.task == "embed" and "embedding_size" not in self.output:
            raise ValueError("an embed target needs output={'embedding_size': N}")
        self.module = self.module.eval()
        if not self.example_inputs:
            self.example_inputs = (torch.zeros(1, len(self.window.channels), self.window.window),)
        if not self.float_modules:
            self.float_modules = default_float_modules(self.module)

    @property
    def input_shape(self) -> tuple[int, int]:
        return len(self.window.channels), self.window.window

    def prepared_module(self) -> nn.Module:
        """A private copy, eval mode, every tensor with standard (dense, row-major) strides.

        ExecuTorch rejects constants with a 0 stride (a size-1 dim built from
        a numpy view keeps one); copying into fresh storage fixes that.
        """
        module = copy.deepcopy(self.module).eval()
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                fresh = torch.empty(t.shape, dtype=t.dtype)
                fresh.copy_(t)
                t.data = fresh
        return module

    @torch.no_grad()
    def reference(self, x) -> "torch.Tensor":
        """The PyTorch fp32 output for windows ``x`` (N, C, T), batched."""
        x = torch.as_tensor(x, dtype=torch.float32)
        outs = [self.module(x[i:i + 256]) for i in range(0, len(x), 256)]
        return torch.cat(outs).float()


def default_float_modules(module: nn.Module) -> tuple[str, ...]:
    """Module paths of in-graph preprocessing (``imuedge.spectrogram.Spectrogram`` instances) and of
    modules that ask to stay float (class attribute ``export_float = True``, e.g. the MAE encoder's
    input z-score and layer norms)."""
    try:
        from imuedge.spectrogram import Spectrogram
    except ImportError:  # pragma: no cover
        Spectrogram = ()
    return tuple(name for name, m in module.named_modules()
                 if name and (isinstance(m, Spectrogram) or getattr(m, "export_float", False)))


def _build(info: dict, path) -> nn.Module:
    """``imuedge.train.models.build(name, config)`` when the train package has it, else
    ``imuedge.train.encoder.build_model({"name", "config"})``."""
    from imuedge import checkpoint
    from imuedge.train import models

    build = getattr(models, "build", None)
    try:
        if build is not None:
            return build(info["name"], info["config"])
        from imuedge.train.encoder import build_model
        return build_model(info)
    except (ValueError, KeyError, checkpoint.CheckpointError) as e:
        raise checkpoint.CheckpointError(f"{path}: cannot rebuild model {info.get('name')!r}: {e}") from e


def target_from_checkpoint(path: str | os.PathLike) -> ExportTarget:
    """An imuedge checkpoint (classifier or encoder) as an ``ExportTarget``.

    The module is rebuilt by ``imuedge.train.models.build(name, config)`` from
    the checkpoint's ``"model"`` entry and loaded with its ``"state_dict"``;
    the window contract comes from ``"window"``, class names from
    ``"label_names"``; nothing pickled is executed (``checkpoint.load``).
    """
    from imuedge import checkpoint
    from imuedge.digest import sha256

    path = Path(path)
    ckpt = checkpoint.load(path)
    kind = str(ckpt.get("kind"))
    if "diffusion" in kind or kind.endswith("vae"):  # diffusion_teacher/_student, latent_/vq_diffusion, their VAEs
        raise checkpoint.CheckpointError(f"{path}: a generator checkpoint ({kind}); `imuedge export` takes classifiers "
                                         f"and encoders: export a generator with `imuedge diffusion export "
                                         f"--generator {path}`")
    info = ckpt.get("model") or {}
    if "name" not in info or "config" not in info or "state_dict" not in ckpt:
        raise checkpoint.CheckpointError(f"{path}: checkpoint of kind {ckpt.get('kind')!r} holds no rebuildable "
                                         f"model (needs 'model': {{'name', 'config'}} and 'state_dict')")
    module = _build(info, path)
    try:
        module.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise checkpoint.CheckpointError(f"{path}: weights do not fit model {info['name']}: {e}") from e
    module.eval()
    if "window" not in ckpt:
        raise checkpoint.CheckpointError(f"{path}: no 'window' entry (the input contract); cannot export")
    window = WindowSpec.from_dict(ckpt["window"])
    with torch.no_grad():
        out = module(torch.zeros(1, len(window.channels), window.window))
    if out.dim() != 2:
        raise ExportError(f"{path}: model output has shape {tuple(out.shape)}; expected (batch, features)")
    labels = ckpt.get("label_names") or {}
    is_classifier = bool(labels) or ckpt.get("kind") == "classifier" or hasattr(module, "head")
    if is_classifier:
        names = [str(labels.get(str(i), labels.get(i, f"class_{i}"))) for i in range(out.shape[1])]
        task, output = "classify", {"class_names": names}
    else:
        task, output = "embed", {"embedding_size": int(out.shape[1])}
    prov = {
        "checkpoint": str(path),
        "checkpoint_sha256": sha256(path),
        "checkpoint_kind": ckpt.get("kind"),
        "model_name": info["name"],
        "checkpoint_provenance": ckpt.get("provenance") or {},
    }
    return ExportTarget(module, task, window, output, provenance=prov)


def mentioned_ops(message: str, layers: dict[str, list[str]]) -> dict[str, list[str]]:
    """The ops of ``layers`` ({"aten.fft_r2c.default": [module paths]}) that a backend error names."""
    found = {}
    for op, ls in layers.items():
        parts = op.split(".")
        ns, core = (parts[0], parts[1]) if len(parts) >= 2 else ("", parts[0])
        overload = parts[2] if len(parts) >= 3 else ""
        forms = {op, f"{ns}::{core}", f"{ns}.{core}"}
        if overload:
            forms.add(f"{core}.{overload}")
        if any(f in message for f in forms if f and f != "."):
            found[op] = ls
    return found


def named_failure(fmt: str, e: BaseException, layers: dict[str, list[str]], stage: str) -> ExportError:
    """An ExportError for a backend exception, naming the graph ops (and their layers) it mentions."""
    msg = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
    named = mentioned_ops(msg, layers)
    if not named:  # the backend named an op the graph spells differently: report it as the backend does
        for core, overload in re.findall(r"aten(?:\.|::)([A-Za-z0-9_]+)(?:\.([A-Za-z0-9_]+))?", msg):
            same = [ls for op, ls in layers.items() if op.split(".")[1:2] == [core]]
            named[f"aten.{core}" + (f".{overload}" if overload else "")] = same[0] if same else ["<unknown layer>"]
    first = msg.splitlines()[0] if msg else ""
    where = "; ".join(f"{op} from layer(s) {ls}" for op, ls in named.items())
    return ExportError(f"{fmt}: failed {stage}: {type(e).__name__}: {first[:500]}"
                       + (f" -- unsupported op(s): {where}" if where else ""), fmt, named)
