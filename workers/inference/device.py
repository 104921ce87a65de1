from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Placement:
    device: str
    dtype: torch.dtype
    batch_size: int


def placement(setting: str = "auto", *, cpu_batch: int = 64, gpu_batch: int = 512) -> Placement:
    """CUDA with bf16 when present (or asked for), else CPU in float32."""
    wants_cuda = setting == "cuda" or (setting == "auto" and torch.cuda.is_available())
    if wants_cuda:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return Placement("cuda", dtype, gpu_batch)
    return Placement("cpu", torch.float32, cpu_batch)
