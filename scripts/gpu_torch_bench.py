#!/usr/bin/env python3
"""PyTorch's peer for the GPU checks' training benchmark (native/bench/bench_training.cpp): HuggingFace's
BertForPreTraining on the same GPU, bf16 autocast, AdamW (fused) with clipping at 1.0, the same models, batch
shapes and masked tokens per sequence (20 at 128, 80 at 512). One JSON line per case. Note that HF scores the MLM
head at every position (its labels are -100 elsewhere), where bert-train scores only the masked ones: HF does more
work per step, which is part of what the comparison measures.

Usage: python3 scripts/gpu_torch_bench.py [--quick]
"""
import json
import sys
import time

import torch
import transformers

CASES = [("base", 768, 12, 12, 3072, 64, 128), ("base", 768, 12, 12, 3072, 16, 512),
         ("large", 1024, 24, 16, 4096, 64, 128), ("large", 1024, 24, 16, 4096, 16, 512)]
QUICK = [("mini", 256, 4, 4, 1024, 8, 128), ("mini", 256, 4, 4, 1024, 2, 512)]


def run(name, hidden, layers, heads, inter, batch, seq, warmup, steps, device):
    config = transformers.BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                                     num_attention_heads=heads, intermediate_size=inter, max_position_embeddings=512)
    model = transformers.BertForPreTraining(config).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device == "cuda")
    masked = seq * 20 // 128
    ids = (torch.arange(batch * seq, device=device).reshape(batch, seq) * 7919) % 30521 + 1
    labels = torch.full_like(ids, -100)
    at = torch.arange(masked, device=device) * (seq // masked)
    labels[:, at] = ids[:, at]
    nsp = torch.arange(batch, device=device) % 2
    segments, mask = torch.zeros_like(ids), torch.ones_like(ids)

    def step():
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = model(input_ids=ids, token_type_ids=segments, attention_mask=mask, labels=labels,
                         next_sentence_label=nsp).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    print(json.dumps({"engine": "pytorch-hf", "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                      "model": name, "precision": "bf16", "batch": batch, "seq": seq,
                      "seconds_per_step": round(seconds, 5), "samples_per_s": round(batch / seconds, 2),
                      "torch": torch.__version__, "transformers": transformers.__version__}), flush=True)
    del model, opt
    if device == "cuda":
        torch.cuda.empty_cache()


def main():
    quick = "--quick" in sys.argv
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for case in QUICK if quick else CASES:
        run(*case, warmup=1 if quick else 3, steps=2 if quick else 10, device=device)


if __name__ == "__main__":
    main()
