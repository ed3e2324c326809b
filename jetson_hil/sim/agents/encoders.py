"""Image encoders of the simulated ``vl_jepa`` agent, in plain torch (no timm/torchvision on the image).

Real architectures and widths, random weights from a fixed seed (the simulator has no checkpoints):

* ``dinov2-s14``  ViT-S/14 as ``dinov2_vits14``: embed 384, depth 12, heads 6, patch 14, class token and
  learned position embedding (bicubic-resized for other input sizes), layer scale; output = class token
  after the final norm -> 384-d. At 224 the sequence is 1 + 256 tokens.
* ``siglip2-b16`` ViT-B/16 as ``siglip2-base-patch16``: embed 768, depth 12, heads 12, patch 16, no class
  token, tanh-GELU MLPs, post-norm and a multi-head attention-pooling (MAP) head -> 768-d.
* ``tiny``        a 2-block ViT for tests: width ``$VL_JEPA_TINY_DIM`` (default 64), patch 16, class token.

Same name + same seed + same torch => same weights, in every process.

>>> enc = build_encoder("tiny", input_size=64)
>>> enc(torch.zeros(1, 3, 64, 64)).shape
torch.Size([1, 64])
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SEED = 20260201


@dataclass(frozen=True)
class EncoderSpec:
    """Shape of one encoder; ``mean``/``std`` are its input normalisation."""

    name: str
    dim: int
    depth: int
    heads: int
    patch: int
    mlp_ratio: float
    cls_token: bool
    pool: str  # "cls" or "map"
    layer_scale: float | None
    gelu: str  # "none" (erf) or "tanh"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
SIGLIP = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def spec_for(name: str) -> EncoderSpec:
    """The spec of a named encoder; ``ValueError`` names the known ones."""
    if name == "dinov2-s14":
        return EncoderSpec(name, 384, 12, 6, 14, 4.0, True, "cls", 1.0, "none", *IMAGENET)
    if name == "siglip2-b16":
        return EncoderSpec(name, 768, 12, 12, 16, 4.0, False, "map", None, "tanh", *SIGLIP)
    if name == "tiny":
        dim = int(os.environ.get("VL_JEPA_TINY_DIM", "64") or 64)
        heads = max(1, dim // 32)
        while dim % heads:
            heads -= 1
        return EncoderSpec(name, dim, 2, heads, 16, 2.0, True, "cls", None, "none", *IMAGENET)
    raise ValueError(f"unknown encoder {name!r}; expected one of {', '.join(ENCODERS)}")


ENCODERS = ("dinov2-s14", "siglip2-b16", "tiny")


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, gelu: str):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate=gelu)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, spec: EncoderSpec):
        super().__init__()
        dim = spec.dim
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, spec.heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * spec.mlp_ratio), spec.gelu)
        if spec.layer_scale is not None:
            self.ls1 = nn.Parameter(torch.full((dim,), spec.layer_scale))
            self.ls2 = nn.Parameter(torch.full((dim,), spec.layer_scale))
        else:
            self.ls1 = self.ls2 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attn(self.norm1(x))
        x = x + (a * self.ls1 if self.ls1 is not None else a)
        m = self.mlp(self.norm2(x))
        return x + (m * self.ls2 if self.ls2 is not None else m)


class MapHead(nn.Module):
    """SigLIP's multi-head attention pooling: one learned probe attends over all tokens."""

    def __init__(self, spec: EncoderSpec):
        super().__init__()
        dim = spec.dim
        self.heads = spec.heads
        self.probe = nn.Parameter(torch.zeros(1, 1, dim))
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, dim * 2)
        self.proj = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * spec.mlp_ratio), spec.gelu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        h = self.heads
        q = self.q(self.probe.expand(b, -1, -1)).reshape(b, 1, h, c // h).transpose(1, 2)
        kv = self.kv(x).reshape(b, n, 2, h, c // h).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1])
        out = self.proj(out.transpose(1, 2).reshape(b, 1, c))
        out = out + self.mlp(self.norm(out))
        return out[:, 0]


class VisionTransformer(nn.Module):
    """Image batch (B, 3, S, S), already normalised -> embeddings (B, dim)."""

    def __init__(self, spec: EncoderSpec, input_size: int = 224, train_size: int = 224):
        super().__init__()
        self.spec = spec
        self.input_size = input_size
        dim = spec.dim
        self.patch_embed = nn.Conv2d(3, dim, kernel_size=spec.patch, stride=spec.patch)
        grid = train_size // spec.patch
        extra = 1 if spec.cls_token else 0
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if spec.cls_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + extra, dim))
        self.blocks = nn.ModuleList(Block(spec) for _ in range(spec.depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = MapHead(spec) if spec.pool == "map" else None
        self._grid = grid

    def _pos(self, grid: int) -> torch.Tensor:
        pos = self.pos_embed
        if grid == self._grid:
            return pos
        extra = 1 if self.cls_token is not None else 0
        cls, patches = pos[:, :extra], pos[:, extra:]
        patches = patches.reshape(1, self._grid, self._grid, -1).permute(0, 3, 1, 2)
        patches = F.interpolate(patches.float(), size=(grid, grid), mode="bicubic", align_corners=False)
        patches = patches.to(pos.dtype).permute(0, 2, 3, 1).reshape(1, grid * grid, -1)
        return torch.cat([cls, patches], dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(images)
        grid = x.shape[-1]
        x = x.flatten(2).transpose(1, 2)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self._pos(grid)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        if self.head is not None:
            return self.head(x)
        return x[:, 0]


def _init_weights(model: nn.Module, seed: int) -> None:
    """Deterministic init from ``seed`` only (global RNG untouched): ViT-style truncated normals."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("ls1", "ls2")):
                continue
            leaf = name.rsplit(".", 1)[-1]
            if "norm" in name and leaf == "weight":
                param.fill_(1.0)
            elif leaf == "bias":
                param.zero_()
            elif leaf in ("pos_embed", "cls_token", "probe"):
                nn.init.trunc_normal_(param, std=0.02, a=-0.04, b=0.04, generator=gen)
            elif "patch_embed" in name:
                fan_in = param[0].numel()
                nn.init.trunc_normal_(param, std=1.0 / math.sqrt(fan_in), a=-2.0, b=2.0, generator=gen)
            else:
                nn.init.trunc_normal_(param, std=0.02, a=-0.04, b=0.04, generator=gen)


def build_encoder(name: str, input_size: int = 224, seed: int = SEED) -> VisionTransformer:
    """A ready (eval, fp32, CPU) encoder; move/cast it afterwards."""
    spec = spec_for(name)
    model = VisionTransformer(spec, input_size=input_size)
    _init_weights(model, seed + sum(map(ord, name)))
    return model.eval()


def preprocess(frames: list[np.ndarray], spec: EncoderSpec, input_size: int) -> torch.Tensor:
    """uint8 HxWx3 frames -> normalised float32 batch (B, 3, S, S), bilinear resize with antialias."""
    batch = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    if batch.shape[-1] != input_size or batch.shape[-2] != input_size:
        batch = F.interpolate(batch, size=(input_size, input_size), mode="bilinear", antialias=True)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return (batch - mean) / std


def export_onnx(name: str, path: str, input_size: int = 224) -> int:
    """Write the encoder as an ONNX model (the simulator's stand-in for a TensorRT engine); returns dim.

    Input ``images`` (1, 3, S, S) float32, output ``embedding`` (1, dim); static shapes, as a
    ``trtexec --shapes=images:1x3xSxS`` engine would have.
    """
    import io
    import warnings

    model = build_encoder(name, input_size)
    example = torch.zeros(1, 3, input_size, input_size)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            input_names=["images"],
            output_names=["embedding"],
            opset_version=17,
        )
    tmp = f"{path}.tmp"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(tmp, "wb") as fh:
        fh.write(buffer.getvalue())
    os.replace(tmp, path)
    return model.spec.dim
