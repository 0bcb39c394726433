"""Running under torchrun: the process group from torchrun's environment, and the few collectives we use.

trainwise launches nothing itself: ``torchrun --nproc-per-node N -m trainwise fit ...`` (or a script that
calls `Trainer.fit`) starts N processes; each one calls `setup()`, which joins the process group that
torchrun's variables describe (gloo on CPU, nccl on CUDA). A single process is a world of one, and every
helper here is then a no-op.

What is synced, once per epoch: the training loss sum, correct count and sample count (one all-reduce),
the validation accumulator's state (one all-reduce), and the stop decision (one all-reduce of a flag),
so every rank takes the same decision and none waits forever. Gradients are averaged by DDP.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from trainwise.errors import InputError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, name: str) -> str:
        """Under torchrun each process takes its own GPU: ``cuda`` becomes ``cuda:LOCAL_RANK``."""
        if self.distributed and name in ("auto", "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        return name

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """Sum (or max) ``tensor`` over all ranks, in place; returns it."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
        return tensor

    def agree(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when it is True on any rank (e.g. "stop now")."""
        if not self.distributed:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=device)
        return bool(self.all_reduce(value, op="max").item())

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def setup(device: str = "auto") -> World:
    """Join torchrun's process group when its variables say there are several processes: nccl, each process
    on the GPU of its local rank, when the run uses CUDA (``device`` auto or cuda on a GPU machine), else gloo."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        cuda = _uses_cuda(device, local_rank)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        if cuda:
            torch.cuda.set_device(local_rank)
    return World(rank=dist.get_rank(), size=dist.get_world_size(), local_rank=local_rank)


def _uses_cuda(device: str, local_rank: int) -> bool:
    """Whether this process trains on CUDA; a GPU of its own is checked before any process group forms."""
    if not (device == "auto" or device.startswith("cuda")) or not torch.cuda.is_available():
        return False
    gpus = torch.cuda.device_count()
    if local_rank >= gpus:
        raise InputError(f"torchrun started local process {local_rank}, but this machine has {gpus} GPU(s): start at "
                         f"most {gpus} per node (--nproc-per-node {gpus}), or train on the CPU with --device cpu.")
    return True


def current() -> World:
    """The world this process is in, without joining anything."""
    if dist.is_available() and dist.is_initialized():
        return World(rank=dist.get_rank(), size=dist.get_world_size(),
                     local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    return World()
