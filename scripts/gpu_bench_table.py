#!/usr/bin/env python3
"""The GPU checks' benchmark table: bench_training's JSON lines beside gpu_torch_bench.py's, matched by model,
batch and sequence length, as a Markdown table (samples/s, ours/PyTorch, model-FLOP utilisation of the peak).

Usage: python3 scripts/gpu_bench_table.py OURS.txt TORCH.txt
"""
import json
import sys


def lines(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.startswith("{")]
    except OSError:
        return []


def main():
    ours, torch = lines(sys.argv[1]), lines(sys.argv[2])
    peer = {(r["model"], r["batch"], r["seq"]): r for r in torch}
    print("\n| model | batch × seq | ours samples/s | PyTorch HF samples/s | ours / PyTorch | ours TFLOP/s | of bf16 peak |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in ours:
        t = peer.get((r["model"], r["batch"], r["seq"]))
        ratio = f"{r['samples_per_s'] / t['samples_per_s']:.2f}×" if t else "n/a"
        util = f"{100 * r['utilisation_of_peak']:.0f}% of {r['peak_tflops']:.0f}" if r["utilisation_of_peak"] else "n/a"
        print(f"| {r['model']} | {r['batch']} × {r['seq']} | {r['samples_per_s']:.1f} | "
              f"{t['samples_per_s']:.1f} | {ratio} | {r['model_tflops']:.0f} | {util} |" if t else
              f"| {r['model']} | {r['batch']} × {r['seq']} | {r['samples_per_s']:.1f} | n/a | n/a | "
              f"{r['model_tflops']:.0f} | {util} |")
    if ours:
        print(f"\nours: {ours[0]['device']}")


if __name__ == "__main__":
    main()
