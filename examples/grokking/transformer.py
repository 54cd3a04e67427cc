"""The one-layer transformer of Nanda et al. 2023 ("Progress measures for grokking via mechanistic
interpretability"), in plain PyTorch, with HookedTransformer's parameter names so TransformerLens
checkpoints load into it: embed.W_E, pos_embed.W_pos, blocks.0.attn.W_Q, ..., unembed.W_U.

Input: tokens [a, b, =] with a, b in 0..p-1 and "=" the token p. Output: the logits of the last
position over the p residues (the prediction of (a + b) mod p).
"""

from __future__ import annotations

import torch
from torch import nn


class Embed(nn.Module):
    def __init__(self, d_vocab: int, d_model: int) -> None:
        super().__init__()
        self.W_E = nn.Parameter(torch.randn(d_vocab, d_model) / d_model**0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.W_E[tokens]


class PosEmbed(nn.Module):
    def __init__(self, n_ctx: int, d_model: int) -> None:
        super().__init__()
        self.W_pos = nn.Parameter(torch.randn(n_ctx, d_model) / d_model**0.5)

    def forward(self, residual: torch.Tensor) -> torch.Tensor:
        return self.W_pos[: residual.shape[1]]


class Attention(nn.Module):
    """Causal multi-head self-attention with per-head Q, K, V, O matrices (TransformerLens layout)."""

    def __init__(self, d_model: int, n_heads: int, d_head: int, n_ctx: int) -> None:
        super().__init__()
        scale = d_model**-0.5
        self.W_Q = nn.Parameter(torch.randn(n_heads, d_model, d_head) * scale)
        self.W_K = nn.Parameter(torch.randn(n_heads, d_model, d_head) * scale)
        self.W_V = nn.Parameter(torch.randn(n_heads, d_model, d_head) * scale)
        self.W_O = nn.Parameter(torch.randn(n_heads, d_head, d_model) * d_head**-0.5)
        self.b_Q = nn.Parameter(torch.zeros(n_heads, d_head))
        self.b_K = nn.Parameter(torch.zeros(n_heads, d_head))
        self.b_V = nn.Parameter(torch.zeros(n_heads, d_head))
        self.b_O = nn.Parameter(torch.zeros(d_model))
        self.register_buffer("mask", torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool)))
        self.register_buffer("IGNORE", torch.tensor(-1e5))
        self.d_head = d_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.einsum("bpd,hde->bhpe", x, self.W_Q) + self.b_Q[None, :, None, :]
        k = torch.einsum("bpd,hde->bhpe", x, self.W_K) + self.b_K[None, :, None, :]
        v = torch.einsum("bpd,hde->bhpe", x, self.W_V) + self.b_V[None, :, None, :]
        scores = q @ k.transpose(-1, -2) / self.d_head**0.5
        n = x.shape[1]
        scores = torch.where(self.mask[:n, :n], scores, self.IGNORE)
        pattern = torch.softmax(scores, dim=-1)
        z = pattern @ v
        return torch.einsum("bhpe,hed->bpd", z, self.W_O) + self.b_O


class MLP(nn.Module):
    def __init__(self, d_model: int, d_mlp: int) -> None:
        super().__init__()
        self.W_in = nn.Parameter(torch.randn(d_model, d_mlp) * d_model**-0.5)
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = nn.Parameter(torch.randn(d_mlp, d_model) * d_mlp**-0.5)
        self.b_out = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.W_in + self.b_in) @ self.W_out + self.b_out


class Block(nn.Module):
    """Attention then MLP, both added to the residual stream (the model's forward applies them)."""

    def __init__(self, d_model: int, n_heads: int, d_head: int, d_mlp: int, n_ctx: int) -> None:
        super().__init__()
        self.attn = Attention(d_model, n_heads, d_head, n_ctx)
        self.mlp = MLP(d_model, d_mlp)


class Unembed(nn.Module):
    def __init__(self, d_model: int, d_vocab_out: int) -> None:
        super().__init__()
        self.W_U = nn.Parameter(torch.randn(d_model, d_vocab_out) * d_model**-0.5)
        self.b_U = nn.Parameter(torch.zeros(d_vocab_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W_U + self.b_U


class GrokkingTransformer(nn.Module):
    """One layer, no LayerNorm, ReLU MLP: d_model 128, 4 heads of 32, d_mlp 512, context 3."""

    def __init__(
        self, p: int = 113, d_model: int = 128, n_heads: int = 4, d_mlp: int = 512, n_ctx: int = 3
    ) -> None:
        super().__init__()
        self.embed = Embed(p + 1, d_model)
        self.pos_embed = PosEmbed(n_ctx, d_model)
        self.blocks = nn.ModuleList([Block(d_model, n_heads, d_model // n_heads, d_mlp, n_ctx)])
        self.unembed = Unembed(d_model, p)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos_embed(tokens)
        block = self.blocks[0]
        # NOTE: only the last position is read out, and the MLP acts per position, so it runs on
        # that position alone: the same logits as HookedTransformer's, at half the work.
        last = (x + block.attn(x))[:, -1, :]
        return self.unembed(last + block.mlp(last))
