#!/usr/bin/env python3
"""PyTorch reference for `bert-train bench`: the same BERT (Pre-LN, dropout 0.1, MLM at the masked positions with
the decoder tied to the word embeddings, NSP) built from plain torch.nn modules, timed doing forward+backward on
the same batch shape. bf16 runs under torch.autocast(device, torch.bfloat16), PyTorch's own mixed precision;
--device cuda runs it on the GPU (loss.item() waits for the step, so the timing covers the GPU's work).

Usage: /usr/bin/python3 scripts/torch_bench.py --layers 4 --hidden 256 --precision bf16 --batch 32 --seq 128 \
         --masked 20 --steps 5 --threads 2
Prints one JSON object: {"samples_per_s": ..., "seconds_per_step": ..., "torch_version": ...}
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn


class Layer(nn.Module):
    def __init__(self, hidden, heads, inter, p):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(hidden, eps=1e-12)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn_in = nn.Linear(hidden, inter)
        self.ffn_out = nn.Linear(inter, hidden)
        self.drop = nn.Dropout(p)

    def forward(self, h, additive):
        B, T, C = h.shape
        HS = C // self.heads
        q, k, v = self.qkv(self.ln1(h)).view(B, T, 3, self.heads, HS).permute(2, 0, 3, 1, 4)
        probs = self.drop(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HS) + additive, dim=-1))
        ctx = (probs @ v).transpose(1, 2).reshape(B, T, C)
        x = h + self.drop(self.out(ctx))
        return x + self.drop(self.ffn_out(nn.functional.gelu(self.ffn_in(self.ln2(x)))))


class Bert(nn.Module):
    def __init__(self, vocab, hidden, layers, heads, inter, p=0.1):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(512, hidden)
        self.token_type = nn.Embedding(2, hidden)
        self.emb_ln = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(p)
        self.layers = nn.ModuleList(Layer(hidden, heads, inter, p) for _ in range(layers))
        self.final_ln = nn.LayerNorm(hidden, eps=1e-12)
        self.pooler = nn.Linear(hidden, hidden)
        self.transform = nn.Linear(hidden, hidden)
        self.transform_ln = nn.LayerNorm(hidden, eps=1e-12)
        self.mlm_bias = nn.Parameter(torch.zeros(vocab))
        self.nsp = nn.Linear(hidden, 2)
        self.classifier = nn.Linear(hidden, 2)

    def encode(self, ids, seg, mask):
        B, T = ids.shape
        h = self.drop(self.emb_ln(self.word(ids) + self.pos(torch.arange(T, device=ids.device))[None] + self.token_type(seg)))
        additive = ((1.0 - mask.float()) * -10000.0)[:, None, None, :]
        for layer in self.layers:
            h = layer(h, additive)
        return self.final_ln(h)

    def classify(self, ids, seg, mask, class_labels):
        """Sequence classification as GLUE fine-tuning runs it: pooled [CLS] -> dropout -> linear, CE."""
        pooled = torch.tanh(self.pooler(self.encode(ids, seg, mask)[:, 0]))
        return nn.functional.cross_entropy(self.classifier(self.drop(pooled)).float(), class_labels)

    def forward(self, ids, seg, mask, positions, labels, nsp_labels):
        B, T = ids.shape
        h = self.encode(ids, seg, mask)
        rows = h.reshape(B * T, -1)[positions]
        logits = nn.functional.linear(self.transform_ln(nn.functional.gelu(self.transform(rows)).float()), self.word.weight, self.mlm_bias)
        nsp = self.nsp(torch.tanh(self.pooler(h[:, 0])))
        return nn.functional.cross_entropy(logits.float(), labels) + nn.functional.cross_entropy(nsp.float(), nsp_labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--heads", type=int, default=0)
    ap.add_argument("--intermediate", type=int, default=0)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--masked", type=int, default=20, help="masked positions per sequence")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--head", choices=["pretrain", "classify"], default="pretrain")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    heads = a.heads or max(1, a.hidden // 64)
    model = Bert(a.vocab, a.hidden, a.layers, heads, a.intermediate or 4 * a.hidden)
    model.to(a.device).train()
    B, T, M = a.batch, a.seq, a.masked * a.batch
    dev = torch.device(a.device)
    ids = torch.randint(1, a.vocab, (B, T), device=dev)
    seg = torch.zeros(B, T, dtype=torch.long, device=dev)
    mask = torch.ones(B, T, dtype=torch.long, device=dev)
    positions = torch.arange(M, device=dev) * (B * T // M)
    labels = torch.randint(0, a.vocab, (M,), device=dev)
    nsp_labels = torch.randint(0, 2, (B,), device=dev)

    def step():
        model.zero_grad(set_to_none=False)
        with torch.autocast(a.device, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            if a.head == "classify":
                loss = model.classify(ids, seg, mask, nsp_labels)
            else:
                loss = model(ids, seg, mask, positions, labels, nsp_labels)
        loss.backward()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = (time.perf_counter() - t0) / a.steps
    print(json.dumps({"samples_per_s": B / dt, "seconds_per_step": dt, "torch_version": torch.__version__,
                      "threads": torch.get_num_threads(), "device": a.device}))


if __name__ == "__main__":
    main()
