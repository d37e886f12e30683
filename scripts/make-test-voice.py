#!/usr/bin/python3
"""Makes narrate's own test voice: a VITS-style text-to-speech network with
random (fixed-seed) weights, exported to ONNX the way Piper voices are.

    /usr/bin/python3 scripts/make-test-voice.py --config tiny --out tests/data/voice/tiny
    /usr/bin/python3 scripts/make-test-voice.py --config tiny --out tests/data/voice/tiny --refs
    /usr/bin/python3 scripts/make-test-voice.py --config multi --out tests/data/voice/multi --refs
    /usr/bin/python3 scripts/make-test-voice.py --config medium --out /tmp/medium

Configs: tiny (committed, ~0.3 M parameters), multi (committed, 4 speakers,
so the graph takes `sid`), medium (Piper-medium-sized, for bench/nn/run.sh).

Writes OUT/model.onnx and OUT/model.onnx.json (Piper's voice config format).
With --refs it also writes ONNX test cases (OUT/test_data_set_N/input_*.pb,
output_0.pb) whose outputs come from ONNX Runtime (npm onnxruntime-node,
through scripts/ort-reference.js), so our engine is checked against an
independent implementation.

The network follows the VITS paper (Kim et al., 2021, "Conditional
Variational Autoencoder with Adversarial Learning for End-to-End
Text-to-Speech") at inference time only; it is written here from that
description:
  * text encoder: phoneme embedding, Transformer layers whose self-attention
    adds relative-position terms for keys and values (Shaw et al., 2018;
    window of 4 positions), post-LayerNorm written as primitives, a
    convolutional feed-forward block with GELU (written with erf), and a
    1x1 projection to the prior's mean and log-scale;
  * stochastic duration predictor, reverse direction: dilated depth-wise
    separable convolutions condition a flow made of an element-wise affine
    layer and rational-quadratic spline couplings (Durkan et al., 2019) with
    linear tails, applied to noise scaled by scales[2];
  * durations exp(logw) * length_scale, rounded up (the graph's one Ceil),
    alignment built from the cumulative sum of the durations;
  * prior sample mean + noise * exp(log-scale) * scales[0];
  * residual coupling flow (mean-only affine couplings on WaveNet-style
    gated convolutions, channel flips in between), reverse direction;
  * HiFi-GAN-style decoder: transposed-convolution upsampling, multi-
    receptive-field residual blocks, tanh.
The graph's inputs and output are Piper's: input [B,T] int64, input_lengths
[B] int64, scales [3] float32 (noise, length, noise_w) -> output [B,1,1,N].
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20261127

CONFIGS = {
    # About 0.3 M parameters: small enough to commit (<= 2 MB) and fast in CI.
    "tiny": dict(
        hidden=48, filter=96, heads=2, layers=2, window=4, kernel=3, inter=24,
        dp_filter=32, dp_kernel=3, dp_layers=3, dp_splines=2, bins=10,
        flows=4, wn_hidden=32, wn_layers=2, wn_kernel=5,
        dec_ch=64, up_rates=(8, 8, 4), up_kernels=(16, 16, 8),
        rb_kernels=(3, 5), rb_dilations=((1, 3), (1, 3)), post_gain=1.0,
    ),
    # A very small voice with 4 speakers: the graph takes `sid` [B] int64.
    "multi": dict(
        hidden=16, filter=32, heads=2, layers=1, window=4, kernel=3, inter=8,
        dp_filter=16, dp_kernel=3, dp_layers=2, dp_splines=2, bins=6,
        flows=2, wn_hidden=16, wn_layers=1, wn_kernel=3,
        dec_ch=32, up_rates=(8, 8, 4), up_kernels=(16, 16, 8),
        rb_kernels=(3,), rb_dilations=((1, 3),), post_gain=1.0, speakers=4, spk_dim=8,
        # fewer reference cases: B=1 with 1 and 6 symbols, one B=3 mix, "Hi, ok."
        cases=(0, 5, 6, 10),
    ),
    # The size of a Piper "medium" voice (about 15 M parameters).
    "medium": dict(
        hidden=192, filter=768, heads=2, layers=6, window=4, kernel=3, inter=192,
        dp_filter=192, dp_kernel=3, dp_layers=3, dp_splines=4, bins=10,
        flows=4, wn_hidden=192, wn_layers=4, wn_kernel=5,
        dec_ch=256, up_rates=(8, 8, 4), up_kernels=(16, 16, 8),
        rb_kernels=(3, 7, 11), rb_dilations=((1, 3, 5), (1, 3, 5), (1, 3, 5)), post_gain=1.0,
    ),
}

# The operators our engine implements (issue 4, point 3). The export must not
# use anything else.
ALLOWED_OPS = set("""Add And Cast Ceil Clip Concat Constant ConstantOfShape Conv ConvTranspose
CumSum Div Equal Erf Exp Expand Gather GatherElements GatherND GreaterOrEqual LeakyRelu Less
LessOrEqual MatMul Mul Neg NonZero Not Pad Pow RandomNormalLike Range ReduceMax ReduceMean
ReduceSum Relu Reshape ScatterND Shape Sigmoid Slice Softmax Softplus Split Sqrt Squeeze Sub
Tanh Transpose Unsqueeze Where""".split())


# ---------------------------------------------------------------------------
# phoneme inventory (Piper's conventions: "_" pad = 0, "^" BOS, "$" EOS)

def phoneme_id_map():
    symbols = ["_", "^", "$", " ", "!", "'", "(", ")", ",", "-", ".", ":", ";", "?"]
    symbols += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    # IPA letters and marks eSpeak NG writes for English and its neighbours.
    symbols += list("æçðøħŋœɐɑɒɓɔɕɖɗɘəɚɛɜɝɞɟɠɡɢɣɤɥɦɧɨɪɫɬɭɮɯɰɱɲɳɴɵɶɸɹɺɻɽɾʀʁʂʃʄʈʉʊʋʌʍʎʏʐʑʒʔʕʘʙʛʜʝʟʡʢ")
    symbols += list("ʲˈˌːˑ˞βθχᵻⱱ")
    symbols += ["\u0303", "\u0329", "\u02de", "\u0306"]  # combining tilde, syllabic, rhotic, breve
    out = {}
    for s in symbols:
        if s not in out:
            out[s] = [len(out)]
    return out


# ---------------------------------------------------------------------------
# building blocks

def gelu(x):
    # GELU through erf, as the exact definition: x * Phi(x).
    return 0.5 * x * (1.0 + torch.erf(x * (1.0 / math.sqrt(2.0))))


def lengths_mask(lengths, max_len):
    """[B] lengths -> [B, max_len] bool, true inside each item."""
    pos = torch.arange(max_len, dtype=lengths.dtype, device=lengths.device)
    return pos.unsqueeze(0) < lengths.unsqueeze(1)


class ChannelNorm(nn.Module):
    """LayerNorm over the channel axis of [B, C, T], written as primitives."""

    def __init__(self, ch, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(1.0 + 0.1 * torch.randn(ch))
        self.beta = nn.Parameter(0.1 * torch.randn(ch))

    def forward(self, x):
        mean = x.mean(dim=1, keepdim=True)
        d = x - mean
        var = d.pow(2).mean(dim=1, keepdim=True)
        return d / torch.sqrt(var + self.eps) * self.gamma.view(1, -1, 1) + self.beta.view(1, -1, 1)


class RelPosSelfAttention(nn.Module):
    """Multi-head self-attention with learned relative-position embeddings
    for offsets -window..window (zero beyond), added to both the logits
    (key side) and the output (value side)."""

    def __init__(self, ch, heads, window):
        super().__init__()
        self.heads, self.window, self.dk = heads, window, ch // heads
        self.q = nn.Conv1d(ch, ch, 1)
        self.k = nn.Conv1d(ch, ch, 1)
        self.v = nn.Conv1d(ch, ch, 1)
        self.o = nn.Conv1d(ch, ch, 1)
        self.rel_k = nn.Parameter(torch.randn(2 * window + 1, self.dk) * self.dk ** -0.5)
        self.rel_v = nn.Parameter(torch.randn(2 * window + 1, self.dk) * self.dk ** -0.5)

    def offsets_table(self, table, t):
        # Rows for offsets -(t-1)..(t-1): grow the table by t-1-window zero
        # rows at each end, or crop it when that number is negative.
        p = t - 1 - self.window
        return F.pad(table, (0, 0, p, p))  # [2t-1, dk]

    @staticmethod
    def relative_to_absolute(x):
        # x [B,H,T,2T-1] indexed by offset j-i+T-1 -> [B,H,T,T] indexed by j.
        b, h, t, _ = x.shape
        x = F.pad(x, (0, 1))  # [B,H,T,2T]
        x = x.reshape(b, h, t * 2 * t)
        x = F.pad(x, (0, t - 1))  # (T+1)(2T-1) values
        x = x.reshape(b, h, t + 1, 2 * t - 1)
        return x[:, :, :t, t - 1:]

    @staticmethod
    def absolute_to_relative(x):
        # x [B,H,T,T] indexed by j -> [B,H,T,2T-1] indexed by offset j-i+T-1.
        b, h, t, _ = x.shape
        x = F.pad(x, (0, t - 1))  # [B,H,T,2T-1]
        x = x.reshape(b, h, t * (2 * t - 1))
        x = F.pad(x, (t, 0))  # 2T^2 values
        x = x.reshape(b, h, t, 2 * t)
        return x[:, :, :, 1:]

    def forward(self, x, attn_mask):
        b, c, t = x.shape
        scale = self.dk ** -0.5
        q = self.q(x).reshape(b, self.heads, self.dk, t).transpose(2, 3) * scale  # [B,H,T,dk]
        k = self.k(x).reshape(b, self.heads, self.dk, t)  # [B,H,dk,T]
        v = self.v(x).reshape(b, self.heads, self.dk, t).transpose(2, 3)  # [B,H,T,dk]
        logits = torch.matmul(q, k)  # [B,H,T,T]
        rel_k = self.offsets_table(self.rel_k, t)  # [2T-1,dk]
        logits = logits + self.relative_to_absolute(torch.matmul(q, rel_k.transpose(0, 1)))
        logits = logits.masked_fill(attn_mask == 0, -1e4)
        p = torch.softmax(logits, dim=-1)
        out = torch.matmul(p, v)
        rel_v = self.offsets_table(self.rel_v, t)
        out = out + torch.matmul(self.absolute_to_relative(p), rel_v)  # [B,H,T,dk]
        out = out.transpose(2, 3).reshape(b, c, t)
        return self.o(out)


class TextEncoder(nn.Module):
    def __init__(self, n_symbols, c):
        super().__init__()
        h = c["hidden"]
        self.hidden = h
        self.emb = nn.Embedding(n_symbols, h)
        nn.init.normal_(self.emb.weight, 0.0, h ** -0.5)
        self.attn = nn.ModuleList(RelPosSelfAttention(h, c["heads"], c["window"]) for _ in range(c["layers"]))
        self.norm1 = nn.ModuleList(ChannelNorm(h) for _ in range(c["layers"]))
        pad = c["kernel"] // 2
        self.ffn_in = nn.ModuleList(nn.Conv1d(h, c["filter"], c["kernel"], padding=pad) for _ in range(c["layers"]))
        self.ffn_out = nn.ModuleList(nn.Conv1d(c["filter"], h, c["kernel"], padding=pad) for _ in range(c["layers"]))
        self.norm2 = nn.ModuleList(ChannelNorm(h) for _ in range(c["layers"]))
        self.proj = nn.Conv1d(h, 2 * c["inter"], 1)
        self.inter = c["inter"]

    def forward(self, ids, lengths):
        x = self.emb(ids) * math.sqrt(self.hidden)  # [B,T,H]
        x = x.transpose(1, 2)  # [B,H,T]
        mask = lengths_mask(lengths, ids.shape[1]).unsqueeze(1).to(x.dtype)  # [B,1,T]
        attn_mask = mask.unsqueeze(2) * mask.unsqueeze(3)  # [B,1,T,T]
        for i in range(len(self.attn)):
            x = x * mask
            x = self.norm1[i](x + self.attn[i](x, attn_mask))
            y = self.ffn_out[i](gelu(self.ffn_in[i](x * mask)) * mask) * mask
            x = self.norm2[i](x + y)
        x = x * mask
        stats = self.proj(x) * mask
        m, logs = torch.split(stats, self.inter, dim=1)
        return x, m, logs, mask


class DilatedSeparableConvs(nn.Module):
    """Depth-wise convolutions with dilation kernel**i, each followed by a
    1x1 convolution, LayerNorm and GELU, with residual connections."""

    def __init__(self, ch, kernel, n_layers):
        super().__init__()
        self.sep = nn.ModuleList()
        self.point = nn.ModuleList()
        self.norm1 = nn.ModuleList()
        self.norm2 = nn.ModuleList()
        for i in range(n_layers):
            dil = kernel ** i
            self.sep.append(nn.Conv1d(ch, ch, kernel, groups=ch, dilation=dil, padding=(kernel * dil - dil) // 2))
            self.point.append(nn.Conv1d(ch, ch, 1))
            self.norm1.append(ChannelNorm(ch))
            self.norm2.append(ChannelNorm(ch))

    def forward(self, x, mask, g=None):
        if g is not None:
            x = x + g
        for i in range(len(self.sep)):
            y = gelu(self.norm1[i](self.sep[i](x * mask)))
            y = gelu(self.norm2[i](self.point[i](y)))
            x = x + y
        return x * mask


def spline_inverse(y, uw, uh, ud, bound, min_w=1e-3, min_h=1e-3, min_d=1e-3):
    """Inverse of a monotonic rational-quadratic spline on [-bound, bound]
    with identity (linear) tails. y [N]; uw, uh [N,K]; ud [N,K-1]."""
    k = uw.shape[-1]
    # Knot derivatives at the two ends are 1 so the tails join smoothly.
    end = math.log(math.exp(1.0 - min_d) - 1.0)
    ud = F.pad(ud, (1, 1), value=end)
    deriv = min_d + F.softplus(ud)  # [N,K+1]

    def knots(u, min_size):
        size = min_size + (1.0 - min_size * k) * torch.softmax(u, dim=-1)
        cum = F.pad(torch.cumsum(size, dim=-1), (1, 0))  # [N,K+1] from 0 to 1
        cum = 2.0 * bound * cum - bound
        # Pin the ends exactly to the interval so rounding cannot leak.
        cum = torch.cat([torch.full_like(cum[:, :1], -bound), cum[:, 1:-1], torch.full_like(cum[:, :1], bound)], dim=-1)
        return cum, cum[:, 1:] - cum[:, :-1]

    cw, w = knots(uw, min_w)
    ch, h = knots(uh, min_h)
    # Bin of each y: the number of inner knots at or below it.
    locations = ch[:, 1:-1]  # [N,K-1]
    idx = torch.sum((y.unsqueeze(-1) >= locations).to(torch.int64), dim=-1, keepdim=True)  # [N,1]

    def pick(t):
        return torch.gather(t, -1, idx).squeeze(-1)

    x_lo, width = pick(cw[:, :-1]), pick(w)
    y_lo, height = pick(ch[:, :-1]), pick(h)
    d0, d1 = pick(deriv[:, :-1]), pick(deriv[:, 1:])
    slope = height / width
    dy = y - y_lo
    # Solve y - y_lo = height * (s th^2 + d0 th (1-th)) / (s + (d0+d1-2s) th (1-th)) for th.
    curv = d0 + d1 - 2.0 * slope
    a = height * (slope - d0) + dy * curv
    b = height * d0 - dy * curv
    c = -slope * dy
    disc = b.pow(2) - 4.0 * a * c
    theta = (2.0 * c) / (-b - torch.sqrt(disc))
    return theta * width + x_lo


class SplineCoupling(nn.Module):
    """Coupling layer on 2 channels: channel 0 conditions a rational-quadratic
    spline that transforms channel 1."""

    def __init__(self, filt, kernel, n_layers, bins, bound=5.0):
        super().__init__()
        self.filt, self.bins, self.bound = filt, bins, bound
        self.pre = nn.Conv1d(1, filt, 1)
        self.convs = DilatedSeparableConvs(filt, kernel, n_layers)
        self.proj = nn.Conv1d(filt, 3 * bins - 1, 1)

    def inverse(self, x, mask, g):
        x0, x1 = torch.split(x, 1, dim=1)
        hcond = self.proj(self.convs(self.pre(x0), mask, g)) * mask  # [B,3K-1,T]
        hcond = hcond.transpose(1, 2)  # [B,T,3K-1]
        k, s = self.bins, 1.0 / math.sqrt(self.filt)
        uw, uh, ud = hcond[..., :k] * s, hcond[..., k:2 * k] * s, hcond[..., 2 * k:]
        y = x1.squeeze(1)  # [B,T]
        inside = (y >= -self.bound) & (y <= self.bound)
        out = y.clone()
        # Boolean indexing gathers the values inside the interval (NonZero,
        # GatherND) and writes their inverses back (ScatterND).
        out[inside] = spline_inverse(y[inside], uw[inside], uh[inside], ud[inside], self.bound)
        return torch.cat([x0, out.unsqueeze(1)], dim=1) * mask


class ElementwiseAffine(nn.Module):
    def __init__(self, ch, mean, log_scale):
        super().__init__()
        self.m = nn.Parameter(torch.tensor(mean, dtype=torch.float32).view(ch, 1))
        self.logs = nn.Parameter(torch.tensor(log_scale, dtype=torch.float32).view(ch, 1))

    def inverse(self, x, mask):
        return (x - self.m) * torch.exp(-self.logs) * mask


class DurationPredictor(nn.Module):
    def __init__(self, c):
        super().__init__()
        f = c["dp_filter"]
        self.pre = nn.Conv1d(c["hidden"], f, 1)
        self.convs = DilatedSeparableConvs(f, c["dp_kernel"], c["dp_layers"])
        self.proj = nn.Conv1d(f, f, 1)
        # logw = (z0 - m0) * exp(-logs0) after the last step: m0 = -1.1 puts
        # the durations near 3 frames per symbol, like a trained voice.
        self.affine = ElementwiseAffine(2, [-1.1, 0.0], [0.0, 0.0])
        self.splines = nn.ModuleList(
            SplineCoupling(f, c["dp_kernel"], c["dp_layers"], c["bins"]) for _ in range(c["dp_splines"]))

    def infer(self, x, mask, noise_w, g=None):
        x = self.pre(x)
        if g is not None:
            x = x + g
        x = self.proj(self.convs(x, mask)) * mask
        z = torch.randn_like(x[:, :2, :]) * noise_w  # RandomNormalLike, scaled by scales[2]
        # Reverse of: affine, then (spline, flip) pairs.
        for spline in reversed(self.splines):
            z = torch.flip(z, [1])
            z = spline.inverse(z, mask, x)
        z = self.affine.inverse(z, mask)
        return z[:, :1, :]


class WaveNet(nn.Module):
    def __init__(self, ch, kernel, n_layers):
        super().__init__()
        self.ch = ch
        self.inp = nn.ModuleList(nn.Conv1d(ch, 2 * ch, kernel, padding=kernel // 2) for _ in range(n_layers))
        self.res_skip = nn.ModuleList(
            nn.Conv1d(ch, 2 * ch if i < n_layers - 1 else ch, 1) for i in range(n_layers))

    def forward(self, x, mask):
        skip = 0
        for i in range(len(self.inp)):
            hcat = self.inp[i](x)
            act = torch.tanh(hcat[:, :self.ch]) * torch.sigmoid(hcat[:, self.ch:])
            rs = self.res_skip[i](act)
            if i < len(self.inp) - 1:
                x = (x + rs[:, :self.ch]) * mask
                skip = skip + rs[:, self.ch:]
            else:
                skip = skip + rs
        return skip * mask


class MeanCoupling(nn.Module):
    def __init__(self, ch, hidden, kernel, n_layers):
        super().__init__()
        self.half = ch // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.wn = WaveNet(hidden, kernel, n_layers)
        self.post = nn.Conv1d(hidden, self.half, 1)
        nn.init.normal_(self.post.weight, 0.0, 0.05)

    def inverse(self, x, mask, g=None):
        x0, x1 = torch.split(x, self.half, dim=1)
        h = self.pre(x0)
        if g is not None:
            h = h + g
        m = self.post(self.wn(h * mask, mask)) * mask
        return torch.cat([x0, (x1 - m) * mask], dim=1)


class ResBlock(nn.Module):
    def __init__(self, ch, kernel, dilations):
        super().__init__()
        self.c1 = nn.ModuleList(nn.Conv1d(ch, ch, kernel, dilation=d, padding=d * (kernel - 1) // 2) for d in dilations)
        self.c2 = nn.ModuleList(nn.Conv1d(ch, ch, kernel, padding=(kernel - 1) // 2) for _ in dilations)

    def forward(self, x):
        for a, b in zip(self.c1, self.c2):
            x = x + b(F.leaky_relu(a(F.leaky_relu(x, 0.1)), 0.1))
        return x


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        ch = c["dec_ch"]
        self.pre = nn.Conv1d(c["inter"], ch, 7, padding=3)
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for rate, k in zip(c["up_rates"], c["up_kernels"]):
            self.ups.append(nn.ConvTranspose1d(ch, ch // 2, k, rate, padding=(k - rate) // 2))
            ch //= 2
            for rk, rd in zip(c["rb_kernels"], c["rb_dilations"]):
                self.blocks.append(ResBlock(ch, rk, rd))
        self.n_kernels = len(c["rb_kernels"])
        self.post = nn.Conv1d(ch, 1, 7, padding=3, bias=False)
        # PyTorch's default initialization shrinks the signal at every layer;
        # with random weights the output would be mostly the biases' echo.
        # Variance-preserving weights and small biases keep the audio
        # dependent on the input, which makes the reference checks meaningful.
        for mod in self.modules():
            if isinstance(mod, (nn.Conv1d, nn.ConvTranspose1d)):
                fan_in = mod.weight.shape[1] * mod.weight.shape[2]
                if isinstance(mod, nn.ConvTranspose1d):
                    fan_in = mod.weight.shape[0] * mod.weight.shape[2] // mod.stride[0]
                nn.init.normal_(mod.weight, 0.0, 1.0 / math.sqrt(fan_in))
                if mod.bias is not None:
                    nn.init.normal_(mod.bias, 0.0, 0.01)
        with torch.no_grad():
            self.post.weight.mul_(c["post_gain"])

    def forward(self, x, g=None):
        x = self.pre(x)
        if g is not None:
            x = x + g
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            acc = None
            for j in range(self.n_kernels):
                y = self.blocks[i * self.n_kernels + j](x)
                acc = y if acc is None else acc + y
            x = acc / self.n_kernels
        return torch.tanh(self.post(F.leaky_relu(x)))


class Voice(nn.Module):
    def __init__(self, n_symbols, c):
        super().__init__()
        self.enc = TextEncoder(n_symbols, c)
        self.dp = DurationPredictor(c)
        self.flows = nn.ModuleList(
            MeanCoupling(c["inter"], c["wn_hidden"], c["wn_kernel"], c["wn_layers"]) for _ in range(c["flows"]))
        self.dec = Decoder(c)
        self.speakers = c.get("speakers", 1)
        if self.speakers > 1:
            # Speaker embedding, projected into the duration predictor, every
            # coupling and the decoder (created last, so single-speaker
            # configs keep their weights).
            self.spk = nn.Embedding(self.speakers, c["spk_dim"])
            self.spk_dp = nn.Conv1d(c["spk_dim"], c["dp_filter"], 1)
            self.spk_flow = nn.ModuleList(nn.Conv1d(c["spk_dim"], c["wn_hidden"], 1) for _ in range(c["flows"]))
            self.spk_dec = nn.Conv1d(c["spk_dim"], c["dec_ch"], 1)

    def forward(self, ids, lengths, scales, sid=None):
        noise_scale, length_scale, noise_w = scales[0], scales[1], scales[2]
        g = self.spk(sid).unsqueeze(-1) if self.speakers > 1 else None  # [B,spk_dim,1]
        x, m_p, logs_p, x_mask = self.enc(ids, lengths)
        logw = self.dp.infer(x, x_mask, noise_w, self.spk_dp(g) if g is not None else None)
        durations = torch.ceil(torch.exp(logw) * x_mask * length_scale)  # [B,1,Tx], the one Ceil
        frames = torch.clamp_min(torch.sum(durations, [1, 2]), 1).long()  # [B]
        y_mask = lengths_mask(frames, frames.max()).unsqueeze(1).to(x.dtype)  # [B,1,Ty]
        # Symbol j covers frames [end_j - d_j, end_j).
        ends = torch.cumsum(durations, dim=2)  # [B,1,Tx]
        starts = ends - durations
        t = torch.arange(frames.max(), device=ids.device).to(x.dtype).view(1, -1, 1)  # [1,Ty,1]
        path = ((t >= starts) & (t < ends)).to(x.dtype)  # [B,Ty,Tx]
        path = path * y_mask.transpose(1, 2) * x_mask
        m = torch.matmul(path, m_p.transpose(1, 2)).transpose(1, 2)  # [B,C,Ty]
        logs = torch.matmul(path, logs_p.transpose(1, 2)).transpose(1, 2)
        z = m + torch.randn_like(m) * torch.exp(logs) * noise_scale  # RandomNormalLike, scales[0]
        for i in reversed(range(len(self.flows))):
            z = torch.flip(z, [1])
            z = self.flows[i].inverse(z, y_mask, self.spk_flow[i](g) if g is not None else None)
        audio = self.dec(z * y_mask, self.spk_dec(g) if g is not None else None)  # [B,1,Ty*hop]
        return audio.unsqueeze(1)  # [B,1,1,N], like Piper's exports


# ---------------------------------------------------------------------------

def build(config_name):
    torch.manual_seed(SEED)
    ids = phoneme_id_map()
    n_symbols = max(v[0] for v in ids.values()) + 1
    model = Voice(n_symbols, CONFIGS[config_name]).eval()
    return model, ids, n_symbols


def export(model, path):
    ids = torch.tensor([[1, 20, 0, 30, 0, 2]], dtype=torch.int64)
    lengths = torch.tensor([6], dtype=torch.int64)
    scales = torch.tensor([0.667, 1.0, 0.8], dtype=torch.float32)
    args, names = (ids, lengths, scales), ["input", "input_lengths", "scales"]
    axes = {"input": {0: "batch_size", 1: "phonemes"}, "input_lengths": {0: "batch_size"},
            "output": {0: "batch_size", 3: "time"}}
    if model.speakers > 1:
        args, names = args + (torch.tensor([1], dtype=torch.int64),), names + ["sid"]
        axes["sid"] = {0: "batch_size"}
    with torch.no_grad():
        torch.onnx.export(model, args, path, opset_version=15, input_names=names,
                          output_names=["output"], dynamic_axes=axes, do_constant_folding=True)


def check_ops(path):
    import onnx
    model = onnx.load(path)
    onnx.checker.check_model(model)
    hist = {}
    for node in model.graph.node:
        hist[node.op_type] = hist.get(node.op_type, 0) + 1
    print("op histogram (%d nodes, %d initializers):" % (len(model.graph.node), len(model.graph.initializer)))
    for op in sorted(hist):
        print("  %-18s %5d%s" % (op, hist[op], "" if op in ALLOWED_OPS else "   <-- NOT IN THE ENGINE'S OP SET"))
    bad = sorted(set(hist) - ALLOWED_OPS)
    if bad:
        sys.exit("make-test-voice: ops outside the engine's set: " + ", ".join(bad))
    if hist.get("Ceil", 0) != 1:
        sys.exit("make-test-voice: the graph must hold exactly one Ceil (it has %d)" % hist.get("Ceil", 0))


def write_config(path, ids, n_symbols, config_name, c):
    hop = 1
    for r in c["up_rates"]:
        hop *= r
    cfg = {
        "audio": {"sample_rate": 22050, "quality": config_name},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": ids,
        "num_symbols": n_symbols,
        "num_speakers": c.get("speakers", 1),
        "speaker_id_map": {} if c.get("speakers", 1) == 1 else {"speaker%d" % i: i for i in range(c["speakers"])},
        "language": {"code": "en_US"},
        "dataset": "narrate-test-voice-" + config_name,
        "narrate": {"note": "random weights: the audio is noise", "hop_length": hop, "seed": SEED},
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------------------
# reference test cases

# Texts for the Piper engine's end-to-end check, with the phonemes expected
# from them: eSpeak NG's IPA for en-us (as `espeak-ng -q --ipa -v en-us`
# prints it), clause punctuation kept as Piper keeps it, clauses joined by a
# space. Mapped to ids here independently of the C code.
TEXT_CASES = [
    [("Hi, ok.", "hˈaɪ, ˌoʊkˈeɪ.")],
    [("Hello there, world!", "həlˈoʊ ðˈɛɹ, wˈɜːld!"),
     ("Yes; fine: done.", "jˈɛs; fˈaɪn: dˈʌn."),
     ("Good morning. How are you today?",
      "ɡˈʊd mˈɔːɹnɪŋ. hˌaʊ ɑːɹ juː tədˈeɪ?")],
]


def ipa_to_ids(ipa, id_map):
    """Piper's rule: "^", every phoneme followed by the pad "_", then "$"."""
    ids = list(id_map["^"])
    for ch in ipa:
        ids += id_map[ch] + id_map["_"]
    return ids + id_map["$"]


def reference_cases():
    """Batches of symbol-id sequences: B=1 with 1..6 symbols, and B=3 mixes;
    then the text cases."""
    rng = np.random.RandomState(7)
    cases = []
    for t in range(1, 7):
        cases.append([list(rng.randint(3, 80, size=t))])
    for lens in ([1, 4, 6], [6, 2, 3], [5, 5, 5], [3, 1, 2]):
        cases.append([list(rng.randint(3, 80, size=t)) for t in lens])
    id_map = phoneme_id_map()
    for batch in TEXT_CASES:
        cases.append([ipa_to_ids(ipa, id_map) for _, ipa in batch])
    return cases


def add_duration_outputs(path, out_path):
    """Copy of the model that also outputs the Ceil node's input and output,
    so the reference run can check that no duration sits on an integer
    (where two correct engines could round differently)."""
    import onnx
    model = onnx.load(path)
    ceil = [n for n in model.graph.node if n.op_type == "Ceil"][0]
    for name in (ceil.input[0], ceil.output[0]):
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    onnx.save(model, out_path)
    return ceil.input[0], ceil.output[0]


TEXT_CASE_SPEAKER = 2  # multi-speaker voices: the speaker of the text cases


def write_cases(out_dir, node_modules, config):
    from onnx import numpy_helper

    speakers = config.get("speakers", 1)
    cases = reference_cases()
    first_text = len(cases) - len(TEXT_CASES)
    keep = config.get("cases", range(len(cases)))
    text_cases = [(k, TEXT_CASES[k - first_text]) for k in keep if k >= first_text]
    cases = [cases[k] for k in keep]
    first_text = len(cases) - len(text_cases)
    scales = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    jobs = []
    for i, batch in enumerate(cases):
        t = max(len(s) for s in batch)
        ids = np.zeros((len(batch), t), dtype=np.int64)
        for b, s in enumerate(batch):
            ids[b, :len(s)] = s
        lengths = np.array([len(s) for s in batch], dtype=np.int64)
        d = os.path.join(out_dir, "test_data_set_%d" % i)
        os.makedirs(d, exist_ok=True)
        feeds = [("input", ids), ("input_lengths", lengths), ("scales", scales)]
        job = {"dir": d, "input": ids.flatten().tolist(), "shape": list(ids.shape),
               "input_lengths": lengths.tolist(), "scales": scales.tolist()}
        if speakers > 1:
            sid = np.array([TEXT_CASE_SPEAKER if i >= first_text else (i + b) % speakers
                            for b in range(len(batch))], dtype=np.int64)
            feeds.append(("sid", sid))
            job["sid"] = sid.tolist()
        for j, (name, arr) in enumerate(feeds):
            with open(os.path.join(d, "input_%d.pb" % j), "wb") as f:
                f.write(numpy_helper.from_array(arr, name).SerializeToString())
        jobs.append(job)
    with tempfile.TemporaryDirectory() as tmp:
        job_path = os.path.join(tmp, "jobs.json")
        debug_path = os.path.join(tmp, "debug.onnx")
        add_duration_outputs(os.path.join(out_dir, "model.onnx"), debug_path)
        with open(job_path, "w") as f:
            json.dump({"model": os.path.join(out_dir, "model.onnx"), "debug_model": debug_path,
                       "cases": jobs}, f)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort-reference.js")
        env = dict(os.environ, NODE_PATH=node_modules)
        subprocess.run(["node", script, job_path], check=True, env=env)
        for job in jobs:
            with open(os.path.join(job["dir"], "ort.json")) as f:
                res = json.load(f)
            os.remove(os.path.join(job["dir"], "ort.json"))
            out = np.array(res["output"], dtype=np.float32).reshape(res["shape"])
            with open(os.path.join(job["dir"], "output_0.pb"), "wb") as f:
                f.write(numpy_helper.from_array(out, "output").SerializeToString())
            print("%s: output %s, frames per item %s, min distance of a duration to an integer %.4f" % (
                os.path.basename(job["dir"]), list(out.shape), res["frames"], res["margin"]))
            if res["margin"] < 1e-3:
                sys.exit("make-test-voice: a duration is too close to an integer; change the seed")
            if not np.all(np.isfinite(out)):
                sys.exit("make-test-voice: non-finite output")
            job["frames"] = res["frames"]
    # The texts behind the last cases, for tests/test_piper.c.
    texts = []
    for k, (_, batch) in enumerate(text_cases):
        job = jobs[first_text + k]
        texts.append({"case": os.path.basename(job["dir"]), "texts": [t for t, _ in batch],
                      "ipa": [i for _, i in batch], "frames": [int(f) for f in job["frames"]],
                      "ids": [ipa_to_ids(i, phoneme_id_map()) for _, i in batch],
                      "speaker": TEXT_CASE_SPEAKER if speakers > 1 else 0})
    with open(os.path.join(out_dir, "texts.json"), "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    ap.add_argument("--out", required=True, help="output folder (model.onnx, model.onnx.json)")
    ap.add_argument("--refs", action="store_true", help="also write ONNX Runtime reference test cases")
    ap.add_argument("--node-modules", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "voice", "node_modules"))
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    model, ids, n_symbols = build(args.config)
    n_params = sum(p.numel() for p in model.parameters())
    path = os.path.join(args.out, "model.onnx")
    export(model, path)
    print("%s: %d parameters, %s bytes" % (path, n_params, os.path.getsize(path)))
    check_ops(path)
    write_config(path + ".json", ids, n_symbols, args.config, CONFIGS[args.config])
    if args.refs:
        for name in os.listdir(args.out):
            if name.startswith("test_data_set_"):
                shutil.rmtree(os.path.join(args.out, name))
        write_cases(args.out, os.path.abspath(args.node_modules), CONFIGS[args.config])


if __name__ == "__main__":
    main()
