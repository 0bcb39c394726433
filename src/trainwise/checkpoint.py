"""Checkpoints that survive a crash at any instant, and weights files that never unpickle code.

`last.ckpt` is replaced atomically: the new file is written in full under a temporary name, flushed
and fsynced, the old one moves to `previous.ckpt`, and only then does the new one take its name. A
reader therefore always finds a complete `last.ckpt` or `previous.ckpt`. Loading uses
``torch.load(weights_only=True)``: plain tensors, numbers, strings and containers, never code.

Every checkpoint carries ``checksum``, the SHA-256 of its tensors (names, dtypes, shapes and bytes); loading
verifies it, so a flipped byte inside the weights is a damaged file, never a run trained on.
"""

from __future__ import annotations

import hashlib
import logging
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from trainwise.errors import InputError
from trainwise.io import TEMP_PREFIX, atomic_write

log = logging.getLogger(__name__)

LAST = "last.ckpt"
PREVIOUS = "previous.ckpt"


def save_checkpoint(folder: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as `folder/last.ckpt`, keeping the previous one until the new one is whole."""
    folder = Path(folder)
    payload = {**payload, "checksum": tensor_checksum(payload)}
    return atomic_write(folder / LAST, lambda fh: torch.save(payload, fh), binary=True,
                        keep_previous=folder / PREVIOUS, kind="checkpoint")


def tensor_checksum(payload: Any) -> str:
    """SHA-256 over every tensor in ``payload`` (its place, dtype, shape and bytes), ``checksum`` left out."""
    digest = hashlib.sha256()

    def visit(where: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            flat = value.detach().to("cpu").contiguous().reshape(-1)
            digest.update(f"{where}|{value.dtype}|{tuple(value.shape)}|".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                if not (where == "" and key == "checksum"):
                    visit(f"{where}/{key}", value[key])
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(f"{where}/{i}", item)

    visit("", payload)
    return digest.hexdigest()


def remove_temp_files(folder: Path) -> list[Path]:
    """Delete the temp files a killed trainwise writer left behind (``.trainwise-tmp-NAME.XXXX.tmp``);
    complete files, and temp files of any other program, stay."""
    stale = [p for p in Path(folder).glob(f"{TEMP_PREFIX}*.tmp") if p.is_file()]
    for path in stale:
        path.unlink()
    return stale


def load_checkpoint(folder: Path) -> tuple[dict[str, Any], Path]:
    """The newest complete checkpoint in ``folder``; a damaged `last.ckpt` falls back to `previous.ckpt`."""
    folder = Path(folder)
    problems = []
    for name in (LAST, PREVIOUS):
        path = folder / name
        if not path.exists():
            continue
        problem = None
        try:
            with warnings.catch_warnings():       # torch's multi-line advice (weights_only=False) is not ours
                warnings.simplefilter("ignore")
                payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a damaged file raises whatever the unpickler hits
            problem = f"{name} is damaged (not a readable checkpoint)"
        else:
            if not isinstance(payload, dict) or payload.get("format") != "trainwise-checkpoint-1":
                problem = f"{name} is not a trainwise checkpoint"
            elif "checksum" not in payload:
                problem = f"{name} has no checksum (an older trainwise wrote it; it cannot be verified)"
            elif payload["checksum"] != tensor_checksum(payload):
                problem = f"{name} is damaged (its tensors do not match their checksum)"
        if problem is None:
            if problems:
                log.warning("%s; resuming from %s instead.", problems[0], name)
            return payload, path
        problems.append(problem)
    detail = "; ".join(problems) if problems else f"no {LAST} there"
    raise InputError(f"{folder}: no complete checkpoint to resume from ({detail}); run again without --resume.")


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states, in types `weights_only` loading accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value: Any) -> Any:
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def save_weights(path: Path, model: torch.nn.Module | dict[str, torch.Tensor]) -> Path:
    """Weights as safetensors (no code inside), written atomically."""
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    return atomic_write(path, lambda fh: fh.write(safetensors_bytes(tensors)), binary=True, kind="weights file")


def load_weights(path: Path, model: torch.nn.Module) -> torch.nn.Module:
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise InputError(f"{path}: cannot read the weights ({exc}); the file is damaged or not safetensors.") from None
    model.load_state_dict(state)
    return model
