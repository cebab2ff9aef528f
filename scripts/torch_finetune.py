#!/usr/bin/env python3
"""PyTorch reference for scripts/bench-finetune.mjs: one epoch of GLUE-style fine-tuning of the BERT in
torch_bench.py (Pre-LN, dropout 0.1, pooled [CLS] -> dropout -> classifier, cross-entropy) on inputs tokenized by
bert-train (a JSON file of ids and labels), with what a fine-tuning script does each step: padded batches of
max_seq_length, AdamW (no decay on biases and LayerNorm), linear warm-up/decay, clipping at 1.0. bf16 runs under
torch.autocast('cpu', torch.bfloat16).

Usage: /usr/bin/python3 scripts/torch_finetune.py --data FILE --layers 4 --hidden 256 --precision fp32 \
         --batch 32 --seq 128 --lr 1e-4 --threads 2
Prints one JSON object: {"samples_per_s": ..., "seconds": ..., "steps": ..., "final_loss": ..., "torch_version": ...}
"""
import argparse
import json
import time

import torch

from torch_bench import Bert


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup_proportion", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    data = json.load(open(a.data))
    n = len(data["ids"])
    ids = torch.zeros(n, a.seq, dtype=torch.long)
    mask = torch.zeros(n, a.seq, dtype=torch.long)
    for i, row in enumerate(data["ids"]):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    seg = torch.zeros(n, a.seq, dtype=torch.long)
    labels = torch.tensor(data["labels"])

    model = Bert(30522, a.hidden, a.layers, max(1, a.hidden // 64), 4 * a.hidden)
    model.train()
    no_decay = [p for name, p in model.named_parameters() if "bias" in name or "ln" in name]
    decay = [p for name, p in model.named_parameters() if not ("bias" in name or "ln" in name)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=a.lr
    )
    steps = n // a.batch
    warmup = a.warmup_proportion * steps

    def factor(s):
        return s / warmup if s < warmup else max(0.0, (steps - s) / (steps - warmup))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    order = torch.randperm(n)
    t0 = time.perf_counter()
    loss_value = 0.0
    for s in range(steps):
        idx = order[s * a.batch : (s + 1) * a.batch]
        optimizer.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = model.classify(ids[idx], seg[idx], mask[idx], labels[idx])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        loss_value = loss.item()
    seconds = time.perf_counter() - t0
    print(json.dumps({"samples_per_s": steps * a.batch / seconds, "seconds": seconds, "steps": steps,
                      "final_loss": loss_value, "torch_version": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
