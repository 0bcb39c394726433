"""A run's network as ONNX, for serving without Python's trainwise (``trainwise export RUN --onnx FILE``).

The graph takes ``features`` (float32 ``[rows, F]``: the rows after the saved preprocessing) and gives
``logits`` and ``proba`` -- the positive class's probability ``[rows]`` in binary tasks (what
``predict_proba`` returns), else the softmax ``[rows, C]``. The file's metadata holds what the graph does
not: ``trainwise.preprocessor`` (the preprocessor's JSON dict), ``trainwise.labels`` (JSON list),
``trainwise.positive_label`` and ``trainwise.threshold`` (binary). Exported with the TorchScript-based
exporter (``dynamo=False``): the MLP needs nothing newer, and it needs no extra packages beyond ``onnx``.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from trainwise.errors import InputError, shown_name
from trainwise.io import atomic_write, first_line
from trainwise.serve.predictor import Predictor

OPSET = 17


class _Scores(nn.Module):
    """The network, then the probabilities ``predict_proba`` gives (the loop's rule: a sigmoid of the two
    logits' difference, or of the single logit; a softmax over more classes)."""

    def __init__(self, network: nn.Module, num_classes: int, single_logit: bool, positive: int | None) -> None:
        super().__init__()
        self.network, self.num_classes, self.single_logit = network, num_classes, single_logit
        self.positive = 1 if positive is None else positive

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.network(features)
        if self.single_logit:
            p1 = torch.sigmoid(logits.reshape(-1))
            return logits, p1 if self.positive == 1 else 1 - p1
        if self.num_classes == 2:
            return logits, torch.sigmoid(logits[:, self.positive] - logits[:, 1 - self.positive])
        return logits, torch.softmax(logits, dim=1)


def export_onnx(predictor: Predictor, path: str | os.PathLike[str]) -> Path:
    """Write ``predictor``'s network (and its probabilities) to ``path`` as ONNX, atomically."""
    path = Path(path)
    if not path.name.lower().endswith(".onnx"):
        raise InputError(f"{shown_name(path)}: name the file .onnx.")
    if not path.parent.is_dir():
        raise InputError(f"{shown_name(path)}: no folder {shown_name(path.parent)}; create it first.")
    try:
        import onnx
    except ImportError:
        raise InputError("ONNX export needs the onnx package: pip install onnx.") from None
    pre = predictor.preprocessor
    if pre is None:
        raise InputError(f"{shown_name(predictor.info.folder)}: the run saved no preprocessing, so the number of "
                         "input features is unknown; export the network in Python with torch.onnx.export.")
    width = len(pre.feature_names)
    _, task = predictor.forward(torch.zeros(2, width))                  # the task, and a check the network runs
    network = predictor.module.cpu().eval()
    wrapper = _Scores(network, task.num_classes, task.single_logit, task.positive).eval()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                              # the exporter's deprecation notices
            torch.onnx.export(wrapper, (torch.zeros(2, width),), buffer, input_names=["features"],
                              output_names=["logits", "proba"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"features": {0: "rows"}, "logits": {0: "rows"}, "proba": {0: "rows"}})
    except Exception as exc:  # the exporter raises many types for an unsupported operation
        raise InputError(f"the network could not be exported to ONNX ({first_line(exc)[:160]}).") from None
    finally:
        predictor.module.to(predictor.device)
    model = onnx.load_from_string(buffer.getvalue())
    meta = {"trainwise.preprocessor": json.dumps(pre.to_dict()), "trainwise.labels": json.dumps(predictor.labels),
            "trainwise.input": "features: float32 [rows, F], the rows after trainwise.preprocessor"}
    if task.binary:
        meta.update({"trainwise.positive_label": str(predictor.positive),
                     "trainwise.threshold": repr(predictor.threshold)})
    onnx.helper.set_model_props(model, meta)
    return atomic_write(path, lambda fh: fh.write(model.SerializeToString()), binary=True, kind="ONNX file")
