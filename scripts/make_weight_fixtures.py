#!/usr/bin/env python3
"""Writes test/fixtures/weights/: one set of random tiny Post-LN BERT weights in every common checkpoint layout
the weight loader maps, and a reference file to check each against.

Run with Debian's PyTorch 1.13 (package python3-torch):  /usr/bin/python3 scripts/make_weight_fixtures.py

Each layout is a folder with a HuggingFace config.json (BertConfig keys) and a model.safetensors:
  bert_for_pretraining               HuggingFace BertForPreTraining names, with the tied decoder and position_ids
  bert_model                         BertModel: no "bert." prefix, no heads
  bert_for_masked_lm                 BertForMaskedLM: no pooler, no NSP head
  bert_for_sequence_classification   bert.* and a 2-label classifier
  gamma_beta                         older checkpoints: LayerNorm gamma/beta
  module_prefix                      DeepSpeed's "module." before every name
  fp16, bf16                         BertForPreTraining names in half precision
  pytorch_model_bin                  BertForPreTraining as torch.save writes pytorch_model.bin (zip format)
  deepspeed_job                      a DeepSpeed job folder: latest + global_step10/mp_rank_00_model_states.pt,
                                     the weights under "module" beside DeepSpeed's other entries (an fp16 loss
                                     scaler object among them); no config.json: deepspeed_cf.json gives the sizes
  evil                               a pytorch_model.bin whose pickle calls os.system: it must be refused
Each HuggingFace-style folder also gets vocab.txt, a made-up vocabulary of the model's 101 tokens (the five
special tokens, then tok5 ... tok100), as such folders ship one; vocab.txt at the top is the same file.
reference.safetensors holds the fp32 weights under the engine's names (param/), the classifier (classifier/),
the half-precision weights widened back to fp32 (f16/, bf16/), the inputs (input/, class_input/) and PyTorch's
losses on each set of weights (output/), computed by scripts/make_golden.py's independent forward pass.
"""
import collections
import json
import os
import struct
import sys
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import forward, make_inputs, make_weights, param_names  # noqa: E402

FORMAT_VERSION = "1"
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "weights")
CFG = dict(vocab_size=101, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
           max_position_embeddings=24, type_vocab_size=2, hidden_dropout_prob=0.0,
           attention_probs_dropout_prob=0.0, hidden_act="gelu", layer_norm_eps=1e-12)
ALL_KEPT = dict(keep=[1, 1], scale=[1.0, 1.0])
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
          torch.float64: "F64"}


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)  # numpy has no bf16: write the raw 16-bit words
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for blob in blobs:
            f.write(blob)


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"tok{i}" for i in range(5, CFG["vocab_size"])]


def write_vocab(folder):
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")


def hf_config(architecture, num_labels=2):
    return dict(CFG, architectures=[architecture], model_type="bert", num_labels=num_labels, pad_token_id=0)


def pretraining_layout(W):
    """HuggingFace BertForPreTraining: our names, plus the decoder it ties to the word embeddings and a buffer."""
    out = dict(W)
    out["cls.predictions.decoder.weight"] = W["bert.embeddings.word_embeddings.weight"]
    out["cls.predictions.decoder.bias"] = W["cls.predictions.bias"]
    out["bert.embeddings.position_ids"] = torch.arange(CFG["max_position_embeddings"])[None]
    return out


def layouts(W, classifier):
    pre = pretraining_layout(W)
    body = {k: v for k, v in W.items() if k.startswith("bert.")}
    return {
        "bert_for_pretraining": ("BertForPreTraining", pre),
        "bert_model": ("BertModel", {k[len("bert."):]: v for k, v in body.items()} |
                       {"embeddings.position_ids": pre["bert.embeddings.position_ids"]}),
        "bert_for_masked_lm": ("BertForMaskedLM", {k: v for k, v in pre.items() if
                                                   not k.startswith(("bert.pooler.", "cls.seq_relationship."))}),
        "bert_for_sequence_classification": ("BertForSequenceClassification", body | classifier),
        "gamma_beta": ("BertForPreTraining", {k.replace("LayerNorm.weight", "LayerNorm.gamma")
                                              .replace("LayerNorm.bias", "LayerNorm.beta"): v for k, v in pre.items()}),
        "module_prefix": ("BertForPreTraining", {f"module.{k}": v for k, v in pre.items()}),
        "fp16": ("BertForPreTraining", {k: v.half() if v.is_floating_point() else v for k, v in pre.items()}),
        "bf16": ("BertForPreTraining", {k: v.bfloat16() if v.is_floating_point() else v for k, v in pre.items()}),
    }


class DynamicLossScaler:
    """Stands in for DeepSpeed's class of that name, so the pickle names the class as DeepSpeed's files do."""

    def __init__(self):
        self.cur_scale, self.cur_iter, self.scale_factor, self.scale_window = 65536.0, 10, 2.0, 1000


def deepspeed_loss_scaler():
    name = "deepspeed.runtime.fp16.loss_scaler"
    parts = name.split(".")
    for i in range(1, len(parts) + 1):  # pickle imports the module and every package above it
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    DynamicLossScaler.__module__ = name
    sys.modules[name].DynamicLossScaler = DynamicLossScaler
    return DynamicLossScaler()


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/bert-train-evil-pickle-ran",))


def state_dict(tensors):
    sd = collections.OrderedDict((k, v.clone()) for k, v in tensors.items())
    sd._metadata = collections.OrderedDict({"": {"version": 1}})  # as nn.Module.state_dict() sets it
    return sd


def write_torch_layouts(W):
    pre = pretraining_layout(W)
    folder = os.path.join(OUT_DIR, "pytorch_model_bin")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(hf_config("BertForPreTraining"), f, indent=2)
    torch.save(state_dict(pre), os.path.join(folder, "pytorch_model.bin"))
    write_vocab(folder)
    job = os.path.join(OUT_DIR, "deepspeed_job")
    os.makedirs(os.path.join(job, "global_step10"), exist_ok=True)
    with open(os.path.join(job, "latest"), "w") as f:
        f.write("global_step10")
    checkpoint = {"module": state_dict(W), "buffer_names": [], "global_steps": 10, "global_samples": 40,
                  "skipped_steps": 0, "dp_world_size": 1, "mp_world_size": 1, "ds_version": "0.3.10",
                  "ds_config": {"train_batch_size": 4, "fp16": {"enabled": True, "loss_scale": 0}},
                  "optimizer": {"loss_scaler": deepspeed_loss_scaler(), "overflow": False},
                  "param_shapes": [collections.OrderedDict((k, v.shape) for k, v in W.items())]}
    torch.save(checkpoint, os.path.join(job, "global_step10", "mp_rank_00_model_states.pt"))
    with open(os.path.join(OUT_DIR, "deepspeed_cf.json"), "w") as f:
        json.dump({"name": "tiny_for_weight_fixtures", "bert_model_config": dict(CFG, vocab_size_or_config_json_file=CFG["vocab_size"])}, f, indent=2)
    evil = os.path.join(OUT_DIR, "evil")
    os.makedirs(evil, exist_ok=True)
    with open(os.path.join(evil, "config.json"), "w") as f:
        json.dump(hf_config("BertForPreTraining"), f, indent=2)
    torch.save({"bert.embeddings.word_embeddings.weight": Evil()}, os.path.join(evil, "pytorch_model.bin"))


def main():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(2026)
    W = {k: v.detach() for k, v in make_weights(CFG, False, 0, gen).items()}
    classifier = {"classifier.weight": 0.2 * torch.randn(2, CFG["hidden_size"], generator=gen),
                  "classifier.bias": 0.05 * torch.randn(2, generator=gen)}
    _, n = param_names(CFG, False, 0)
    inputs = make_inputs(CFG, 0, gen)
    class_inputs = make_inputs(CFG, 2, gen)
    half = {"f16": {k: v.half().float() for k, v in W.items()}, "bf16": {k: v.bfloat16().float() for k, v in W.items()}}
    losses = {"fp32": forward(CFG, False, 0, W, n, inputs, ALL_KEPT)}
    losses.update({name: forward(CFG, False, 0, w, n, inputs, ALL_KEPT) for name, w in half.items()})
    classify = forward(CFG, False, 2, W | classifier, n, class_inputs, ALL_KEPT)

    metadata = {"format_version": FORMAT_VERSION, "generator": "scripts/make_weight_fixtures.py",
                "torch_version": torch.__version__, "python_version": sys.version.split()[0],
                "config": json.dumps(dict(CFG, pre_layer_norm=False))}
    os.makedirs(OUT_DIR, exist_ok=True)
    for folder, (architecture, tensors) in layouts(W, classifier).items():
        os.makedirs(os.path.join(OUT_DIR, folder), exist_ok=True)
        with open(os.path.join(OUT_DIR, folder, "config.json"), "w") as f:
            json.dump(hf_config(architecture), f, indent=2)
        write_safetensors(os.path.join(OUT_DIR, folder, "model.safetensors"), tensors, metadata)
        write_vocab(os.path.join(OUT_DIR, folder))
    write_torch_layouts(W)
    write_vocab(OUT_DIR)
    reference = {f"param/{k}": v for k, v in W.items()}
    reference.update({f"classifier/{k}": v for k, v in classifier.items()})
    for prefix, w in half.items():
        reference.update({f"{prefix}/{k}": v for k, v in w.items()})
    reference.update({f"input/{k}": v for k, v in inputs.items()})
    reference.update({f"class_input/{k}": v for k, v in class_inputs.items()})
    for name, out in losses.items():
        for k in ("loss", "mlm_loss", "nsp_loss"):
            reference[f"output/{name}/{k}"] = out[k].detach().double().reshape(1)
    reference["output/classify/loss"] = classify["loss"].detach().double().reshape(1)
    write_safetensors(os.path.join(OUT_DIR, "reference.safetensors"), reference, metadata)
    print(f"{OUT_DIR}: {len(layouts(W, classifier))} layouts; fp32 loss {losses['fp32']['loss'].item():.6f}")


if __name__ == "__main__":
    main()
