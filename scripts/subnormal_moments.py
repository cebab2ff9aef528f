#!/usr/bin/env python3
"""Counts the subnormal and zero values of each kind of tensor in safetensors files (a checkpoint's
optimizer.safetensors holds exp_avg/<name> and exp_avg_sq/<name>, Adam's two moments), and prints the word
embeddings' own counts. Subnormal floats cost an Intel core a microcode assist wherever they are read.

Usage: /usr/bin/python3 scripts/subnormal_moments.py out/saved_models/<job>/<checkpoint>/optimizer.safetensors ...
"""
import json
import struct
import sys

import numpy as np


def tensors(path):
    """(name, float32 array) for every F32 tensor of a safetensors file, read in place."""
    with open(path, "rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_len))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        yield name, np.frombuffer(data[start:end], dtype=np.float32)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    tiny = np.finfo(np.float32).tiny
    for path in sys.argv[1:]:
        totals = {}
        for name, x in tensors(path):
            subnormal = int(np.count_nonzero((x != 0) & (np.abs(x) < tiny)))
            zero = int(np.count_nonzero(x == 0))
            kind = name.split("/")[0] if "/" in name else "weights"
            t = totals.setdefault(kind, [0, 0, 0])
            t[0], t[1], t[2] = t[0] + subnormal, t[1] + zero, t[2] + x.size
            if "word_embeddings" in name:
                print(f"{path}: {name}: {subnormal} subnormal ({100 * subnormal / x.size:.2f}%), {zero} zero")
        for kind, (subnormal, zero, n) in totals.items():
            print(f"{path}: {kind}: {subnormal} subnormal of {n} ({100 * subnormal / n:.3f}%), {zero} zero")


if __name__ == "__main__":
    main()
