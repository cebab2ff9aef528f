#!/usr/bin/env python3
"""Independent HDF5 tools for the tests, written with h5py (Debian's python3-h5py), not with bert-train's code.

  convert IN.tfrecord OUT.hdf5   a statically masked TFRecord shard (Google's layout) to NVIDIA's HDF5 layout,
                                 as NVIDIA DeepLearningExamples' create_pretraining_data.py writes it: int32
                                 input_ids, masked_lm_positions, masked_lm_ids; int8 input_mask, segment_ids,
                                 next_sentence_labels; gzip. Masks with weight 0 become position 0 and id 0.
  dump FILE.hdf5                 every dataset of an HDF5 file as JSON: dtype, shape, compression, values.

The TFRecord reader below is the few lines of protobuf wire format that tf.train.Example needs (no TensorFlow).

Run with Debian's Python:  /usr/bin/python3 scripts/tfrecord_to_hdf5.py convert in.tfrecord out.hdf5
"""
import json
import struct
import sys

import h5py
import numpy as np

SEQ_FEATURES = ("input_ids", "input_mask", "segment_ids")
DTYPES = {
    "input_ids": "i4",
    "input_mask": "i1",
    "segment_ids": "i1",
    "masked_lm_positions": "i4",
    "masked_lm_ids": "i4",
    "next_sentence_labels": "i1",
}


def varint(buf, pos):
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def fields(buf):
    """(field number, wire type, value) of a protobuf message; length-delimited values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 2:
            length, pos = varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"wire type {wire} not expected in tf.train.Example")
        yield number, wire, value


def int64_list(buf):
    out = []
    for number, wire, value in fields(buf):
        if number != 1:
            continue
        if wire == 2:  # packed
            pos = 0
            while pos < len(value):
                v, pos = varint(value, pos)
                out.append(v - (1 << 64) if v >= 1 << 63 else v)
        else:
            out.append(value)
    return out


def float_list(buf):
    out = []
    for number, wire, value in fields(buf):
        if number == 1 and wire == 2:
            out.extend(struct.unpack(f"<{len(value) // 4}f", value))
        elif number == 1:
            out.append(struct.unpack("<f", value)[0])
    return out


def example(record):
    """A tf.train.Example's features as {name: list of numbers}."""
    features = {}
    for _, _, features_msg in fields(record):
        for _, _, entry in fields(features_msg):
            name, feature = None, b""
            for number, _, value in fields(entry):
                if number == 1:
                    name = value.decode()
                elif number == 2:
                    feature = value
            for kind, _, values in fields(feature):
                features[name] = int64_list(values) if kind == 3 else float_list(values) if kind == 2 else []
    return features


def tfrecords(path):
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        yield data[pos + 12 : pos + 12 + length]
        pos += 16 + length


def nvidia_row(ex):
    weights = ex["masked_lm_weights"]
    used = [j for j, w in enumerate(weights) if w > 0]
    pad = len(weights) - len(used)
    return {
        **{k: ex[k] for k in SEQ_FEATURES},
        "masked_lm_positions": [ex["masked_lm_positions"][j] for j in used] + [0] * pad,
        "masked_lm_ids": [ex["masked_lm_ids"][j] for j in used] + [0] * pad,
        "next_sentence_labels": ex["next_sentence_labels"][0],
    }


def convert(src, dst):
    rows = [nvidia_row(example(r)) for r in tfrecords(src)]
    with h5py.File(dst, "w") as f:
        for name, dtype in DTYPES.items():
            f.create_dataset(name, data=np.array([r[name] for r in rows]), dtype=dtype, compression="gzip")
    print(f"{dst}: {len(rows)} rows")


def dump(path):
    out = {}
    with h5py.File(path, "r") as f:
        for name, ds in f.items():
            out[name] = {
                "dtype": ds.dtype.str,
                "shape": list(ds.shape),
                "compression": ds.compression,
                "values": ds[()].tolist(),
            }
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "convert":
        convert(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "dump":
        dump(sys.argv[2])
    else:
        sys.exit(__doc__)
