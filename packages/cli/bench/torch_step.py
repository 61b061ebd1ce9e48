#!/usr/bin/env python3
"""The PyTorch CPU peer of `thaw bench step` (packages/cli/src/bench/torch-peer.ts runs it).

Builds the benchmark's model the way Hugging Face's RoBERTa builds it (post-LN encoder;
word + position + token-type embeddings; LayerNorm eps from the spec; dropout after the
embeddings, in the attention probabilities and before each residual; exact GELU; a
key-padding mask; a linear token-classification head) and times the training step
`thaw train` runs: forward, cross-entropy, backward, clip_grad_norm_, AdamW, and
`loss.item()` every step (what the trainer does when it logs every step).

Parameters are named as in Hugging Face (roberta.encoder.layer.0.output.LayerNorm.weight,
classifier.weight), so the `frozen-base` configuration picks the very tensors Thaw's
bench picks, with the same pattern: the head and every `.output.LayerNorm.` (each layer's
attention-output and output LayerNorms).

Usage: torch_step.py '<spec as JSON>'. The spec names the shape, the optimizer, the
configurations and the thread counts: `threads` goes to OpenMP and torch.set_num_threads,
`blasThreads` (default: `threads`) to OpenBLAS and MKL, through the environment before
torch is imported.
Prints one JSON object: {"torch", "python", "threads", "blasThreads", "blas": {"info", "libraries"},
"configs": {name: {"msPerStep", "parameters", "trainable", "losses"}}}; or, when torch
cannot be imported, {"missing": reason} with exit status 3.
"""
import json
import math
import os
import re
import sys
import time

spec = json.loads(sys.argv[1])
threads = int(spec['threads'])
# BLAS threads may differ from torch's own: one torch thread with two OpenBLAS
# threads is the fastest setting on a 2-core machine (torch's OpenMP pool and
# OpenBLAS's pthreads do not share cores well when both have two).
blas_threads = int(spec.get('blasThreads', threads))
os.environ['OMP_NUM_THREADS'] = str(threads)
for name in ('OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[name] = str(blas_threads)

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print(json.dumps({'missing': f'{sys.executable} cannot import torch ({e})'}))
    sys.exit(3)


class SelfAttention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)


class DenseNorm(nn.Module):
    """dense → dropout → + residual → LayerNorm (RobertaSelfOutput, RobertaOutput)."""

    def __init__(self, d_in, d, eps, p):
        super().__init__()
        self.dense, self.LayerNorm, self.p = nn.Linear(d_in, d), nn.LayerNorm(d, eps=eps), p

    def forward(self, x, residual):
        return self.LayerNorm(F.dropout(self.dense(x), self.p, self.training) + residual)


class Attention(nn.Module):
    def __init__(self, d, eps, p):
        super().__init__()
        self.self, self.output = SelfAttention(d), DenseNorm(d, d, eps, p)


class Intermediate(nn.Module):
    def __init__(self, d, ffn):
        super().__init__()
        self.dense = nn.Linear(d, ffn)


class Layer(nn.Module):
    def __init__(self, s):
        super().__init__()
        d, eps, p = s['hidden'], s['layerNormEps'], s['dropout']
        self.heads, self.p = s['heads'], p
        self.attention = Attention(d, eps, p)
        self.intermediate = Intermediate(d, s['ffn'])
        self.output = DenseNorm(s['ffn'], d, eps, p)

    def forward(self, x, mask_bias):
        b, t, d = x.shape
        h = self.heads
        a = self.attention.self
        split = lambda y: y.view(b, t, h, d // h).transpose(1, 2)
        q, k, v = split(a.query(x)), split(a.key(x)), split(a.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h) + mask_bias
        probs = F.dropout(torch.softmax(scores, dim=-1), self.p, self.training)
        context = (probs @ v).transpose(1, 2).reshape(b, t, d)
        x = self.attention.output(context, x)
        return self.output(F.gelu(self.intermediate.dense(x)), x)  # exact (erf) GELU


class Embeddings(nn.Module):
    def __init__(self, s):
        super().__init__()
        d = s['hidden']
        self.word_embeddings = nn.Embedding(s['vocab'], d)
        self.position_embeddings = nn.Embedding(s['positions'], d)
        self.token_type_embeddings = nn.Embedding(1, d)
        self.LayerNorm = nn.LayerNorm(d, eps=s['layerNormEps'])
        self.p = s['dropout']


class Encoder(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.layer = nn.ModuleList(Layer(s) for _ in range(s['layers']))


class Roberta(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.embeddings, self.encoder = Embeddings(s), Encoder(s)
        self.pad = s['padTokenId']


class Model(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.roberta = Roberta(s)
        self.classifier = nn.Linear(s['hidden'], s['classes'])

    def forward(self, ids, mask):
        e = self.roberta.embeddings
        # RoBERTa's positions: padding_idx + the running count of real tokens.
        positions = (torch.cumsum(mask, dim=1) * mask).long() + self.roberta.pad
        types = torch.zeros_like(ids)
        x = e.word_embeddings(ids) + e.position_embeddings(positions) + e.token_type_embeddings(types)
        x = F.dropout(e.LayerNorm(x), e.p, self.training)
        # Key-padding mask: −∞-like bias on padded keys (none are padded here, as in Thaw's bench).
        mask_bias = (1.0 - mask.to(x.dtype))[:, None, None, :] * torch.finfo(x.dtype).min
        for layer in self.roberta.encoder.layer:
            x = layer(x, mask_bias)
        return self.classifier(x)


def blas():
    """torch's BLAS_INFO, and the BLAS/LAPACK libraries this process has mapped (the libblas.so.3 alternative in use)."""
    info = re.search(r'BLAS_INFO=([^,\s]+)', torch.__config__.show())
    libraries = set()
    with open('/proc/self/maps') as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and re.search(r'lib(open)?blas|liblapack|libmkl|libblis|libatlas', os.path.basename(fields[-1])):
                libraries.add(fields[-1])
    return {'info': info.group(1) if info else 'unknown', 'libraries': sorted(libraries)}


def run(config):
    torch.manual_seed(0)
    model = Model(spec)
    model.train()
    if config == 'frozen-base':
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith('classifier.') or re.search(r'\.output\.LayerNorm\.', name) is not None
    elif config != 'full':
        raise SystemExit(f'unknown configuration {config}')
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec['lr'], weight_decay=spec['weightDecay'])
    b, t, classes = spec['batch'], spec['sequence'], spec['classes']
    generator = torch.Generator().manual_seed(1)
    # Ids 2 … vocab − 1: no padding (1) and no BOS (0), as Thaw's bench.
    ids = torch.randint(2, spec['vocab'], (b, t), generator=generator)
    labels = ids % classes
    mask = torch.ones(b, t, dtype=torch.long)
    losses = []

    def step():
        loss = F.cross_entropy(model(ids, mask).reshape(-1, classes), labels.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, spec['maxGradNorm'])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())

    for _ in range(spec['warmup']):
        step()
    start = time.perf_counter()
    for _ in range(spec['steps']):
        step()
    ms = 1000 * (time.perf_counter() - start) / spec['steps']
    return {
        'msPerStep': ms,
        'parameters': sum(p.numel() for p in model.parameters()),
        'trainable': sum(p.numel() for p in params),
        'losses': losses,
    }


torch.set_num_threads(threads)
results = {config: run(config) for config in spec['configs']}
print(json.dumps({
    'torch': torch.__version__,
    'python': sys.version.split()[0],
    'threads': torch.get_num_threads(),
    'blasThreads': blas_threads,
    'blas': blas(),
    'configs': results,
}))
