#!/usr/bin/env python3
"""Writes the golden files the parity tests compare the native engine against.

Run with Debian's PyTorch 1.13 (package python3-torch):  /usr/bin/python3 scripts/make_golden.py
(--training-curves: only the train_* files)
Output: test/golden/<case>.safetensors, each holding the weights (param/<name>), the inputs (input/<name>), the
losses (output/<name>) and every parameter gradient (grad/<name>), with a metadata header that records this
script's format version and the torch version that produced it.

The model here is written from the model and PLD definitions (docs/native-core.md, docs/training-semantics.md) with plain torch ops and autograd, independently of the C++ code:
Pre-LN (switchable, PLD) or Post-LN BERT, erf or tanh GELU, MLM at the masked positions with the decoder tied to
the word embeddings, NSP, or a sequence-classification head (CE, or MSE for one output). Dropout is 0 in most
cases; one (preln_pretrain_dropout) turns dropout on and multiplies in the engine's own masks,
written out from its counter-based rule, to check where dropout sits and how it scales.
"""
import json
import math
import os
import struct
import sys

import torch

FORMAT_VERSION = "1"
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "golden")

TINY = dict(vocab_size=101, hidden_size=48, num_hidden_layers=3, num_attention_heads=3, intermediate_size=80,
            max_position_embeddings=24, type_vocab_size=2, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0, hidden_act="gelu", layer_norm_eps=1e-12)


def param_names(cfg, pre_ln, num_labels):
    """(name, shape) in the engine's order, under the engine's parameter names."""
    C, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    ln1, ffn_in, ln2, pooler, transform = (
        ("PreAttentionLayerNorm", "intermediate.dense_act", "PostAttentionLayerNorm", "bert.pooler.dense_act",
         "cls.predictions.transform.dense_act") if pre_ln else
        ("attention.output.LayerNorm", "intermediate.dense", "output.LayerNorm", "bert.pooler.dense",
         "cls.predictions.transform.dense"))
    out = [("bert.embeddings.word_embeddings.weight", (V, C)),
           ("bert.embeddings.position_embeddings.weight", (cfg["max_position_embeddings"], C)),
           ("bert.embeddings.token_type_embeddings.weight", (cfg["type_vocab_size"], C)),
           ("bert.embeddings.LayerNorm.weight", (C,)), ("bert.embeddings.LayerNorm.bias", (C,))]
    for l in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{l}."
        for part in ("query", "key", "value"):
            out.append((p + f"attention.self.{part}.weight", (C, C)))
        for part in ("query", "key", "value"):
            out.append((p + f"attention.self.{part}.bias", (C,)))
        out += [(p + "attention.output.dense.weight", (C, C)), (p + "attention.output.dense.bias", (C,)),
                (p + ln1 + ".weight", (C,)), (p + ln1 + ".bias", (C,)),
                (p + ffn_in + ".weight", (F, C)), (p + ffn_in + ".bias", (F,)),
                (p + "output.dense.weight", (C, F)), (p + "output.dense.bias", (C,)),
                (p + ln2 + ".weight", (C,)), (p + ln2 + ".bias", (C,))]
    if pre_ln:
        out += [("bert.encoder.FinalLayerNorm.weight", (C,)), ("bert.encoder.FinalLayerNorm.bias", (C,))]
    out += [(pooler + ".weight", (C, C)), (pooler + ".bias", (C,))]
    if num_labels == 0:
        out += [(transform + ".weight", (C, C)), (transform + ".bias", (C,)),
                ("cls.predictions.transform.LayerNorm.weight", (C,)),
                ("cls.predictions.transform.LayerNorm.bias", (C,)),
                ("cls.predictions.bias", (V,)), ("cls.seq_relationship.weight", (2, C)),
                ("cls.seq_relationship.bias", (2,))]
    else:
        out += [("classifier.weight", (num_labels, C)), ("classifier.bias", (num_labels,))]
    return out, dict(ln1=ln1, ffn_in=ffn_in, ln2=ln2, pooler=pooler, transform=transform)


def make_weights(cfg, pre_ln, num_labels, gen):
    names, _ = param_names(cfg, pre_ln, num_labels)
    weights = {}
    for name, shape in names:
        if name.endswith("LayerNorm.weight"):
            # not exactly 1, so LayerNorm weight gradients and scaling are exercised
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)
        elif name.endswith("bias"):
            t = 0.05 * torch.randn(shape, generator=gen, dtype=torch.float64)
        else:
            t = 0.2 * torch.randn(shape, generator=gen, dtype=torch.float64)
        weights[name] = t.float().requires_grad_(True)
    return weights


def gelu(x, act):
    if act == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


M64 = (1 << 64) - 1


def mix64(z):
    """splitmix64's output function, as the engine's counter-based dropout uses it."""
    z &= M64
    z ^= z >> 30
    z = (z * 0xbf58476d1ce4e5b9) & M64
    z ^= z >> 27
    z = (z * 0x94d049bb133111eb) & M64
    z ^= z >> 31
    return z


def dropout_mask(dropout, layer, site, shape, p):
    """The engine's dropout factors (0 or 1/(1-p), in fp32) for one site of one pass, written out from its rule:
    the site's stream is mix64(dropout_stream + 0x9d2c5680) + 8 * layer + site, element i is dropped when the top
    32 bits of mix64(base + (i + 1) * golden-ratio increment) fall below p * 2^32. The masks are data here, fed to
    an otherwise ordinary torch model, so the comparison checks where dropout sits and how it scales."""
    if p == 0:
        return torch.ones(shape)
    stream = (mix64(dropout["stream"] + 0x9d2c5680) + 8 * layer + site) & M64
    base = mix64(dropout["seed"] ^ mix64((stream + 0x632be59bd9b4e019) & M64))
    p32 = torch.tensor(p, dtype=torch.float32)
    t = p32.double().item() * 4294967296.0
    threshold = 0xffffffff if t >= 4294967295.0 else int(t)
    keep = (torch.tensor(1.0, dtype=torch.float32) / (1.0 - p32)).item()
    count = math.prod(shape)
    bits = [mix64(base + (i + 1) * 0x9e3779b97f4a7c15) >> 32 for i in range(count)]
    return torch.tensor([keep if b >= threshold else 0.0 for b in bits], dtype=torch.float32).view(shape)


def forward(cfg, pre_ln, num_labels, W, n, inputs, gates, dropout=None):
    """Returns a dict of losses; the total is under 'loss'. `dropout` ({seed, stream}) applies the engine's masks
    with the config's probabilities: after the embeddings' LayerNorm, on the attention probabilities, and on
    both residual branches (before the PLD scale)."""
    C, NH = cfg["hidden_size"], cfg["num_attention_heads"]
    HS = C // NH
    eps = cfg["layer_norm_eps"]
    ids, seg, mask = inputs["input_ids"].long(), inputs["segment_ids"].long(), inputs["input_mask"].float()
    B, T = ids.shape
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (C,), W[p + ".weight"], W[p + ".bias"], eps)
    lin = lambda x, p: x @ W[p + ".weight"].t() + W[p + ".bias"]

    h = (W["bert.embeddings.word_embeddings.weight"][ids] +
         W["bert.embeddings.position_embeddings.weight"][torch.arange(T)][None] +
         W["bert.embeddings.token_type_embeddings.weight"][seg])
    h = ln(h, "bert.embeddings.LayerNorm")
    L = cfg["num_hidden_layers"]
    p_hidden = cfg["hidden_dropout_prob"] if dropout else 0.0
    p_attn = cfg["attention_probs_dropout_prob"] if dropout else 0.0
    drop = lambda x, layer, site, p: x * dropout_mask(dropout, layer, site, tuple(x.shape), p) if p > 0 else x
    h = drop(h, L, 0, p_hidden)
    additive = ((1.0 - mask) * -10000.0)[:, None, None, :]
    for l in range(cfg["num_hidden_layers"]):
        keep, s = gates["keep"][l], gates["scale"][l]
        if not keep:
            continue
        p = f"bert.encoder.layer.{l}."

        def attention(x):
            heads = lambda t: t.view(B, T, NH, HS).permute(0, 2, 1, 3)
            q, k, v = (heads(lin(x, p + f"attention.self.{part}")) for part in ("query", "key", "value"))
            probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HS) + additive, dim=-1)
            ctx = (drop(probs, l, 0, p_attn) @ v).permute(0, 2, 1, 3).reshape(B, T, C)
            return drop(lin(ctx, p + "attention.output.dense"), l, 1, p_hidden)

        ffn = lambda x: drop(lin(gelu(lin(x, p + n["ffn_in"]), cfg["hidden_act"]), p + "output.dense"), l, 2, p_hidden)
        if pre_ln:
            x = h + s * attention(ln(h, p + n["ln1"]))
            h = x + s * ffn(ln(x, p + n["ln2"]))
        else:
            x = ln(h + s * attention(h), p + n["ln1"])
            h = ln(x + s * ffn(x), p + n["ln2"])
    if pre_ln:
        h = ln(h, "bert.encoder.FinalLayerNorm")
    pooled = torch.tanh(lin(h[:, 0], n["pooler"]))
    out = {}
    if num_labels == 0:
        rows = h.reshape(B * T, C)[inputs["masked_positions"].long()]
        t = ln(gelu(lin(rows, n["transform"]), cfg["hidden_act"]), "cls.predictions.transform.LayerNorm")
        logits = t @ W["bert.embeddings.word_embeddings.weight"].t() + W["cls.predictions.bias"]
        labels = inputs["masked_labels"].long()
        out["mlm_loss"] = torch.nn.functional.cross_entropy(logits, labels, ignore_index=-1)
        nsp = lin(pooled, "cls.seq_relationship")
        out["nsp_loss"] = torch.nn.functional.cross_entropy(nsp, inputs["next_sentence_labels"].long())
        out["loss"] = out["mlm_loss"] + out["nsp_loss"]
    else:
        logits = lin(pooled, "classifier")
        if num_labels == 1:
            out["classification_loss"] = torch.mean((logits[:, 0] - inputs["regression_targets"]) ** 2)
        else:
            out["classification_loss"] = torch.nn.functional.cross_entropy(logits, inputs["class_labels"].long())
        out["class_logits"] = logits
        out["loss"] = out["classification_loss"]
    return out


def make_inputs(cfg, num_labels, gen, B=3, T=19):
    V = cfg["vocab_size"]
    ids = torch.randint(5, V, (B, T), generator=gen, dtype=torch.int32)
    ids[:, 0] = 2  # a [CLS]-like id
    lengths = [T, 13, 7]  # padding in the mask
    mask = torch.zeros(B, T, dtype=torch.int32)
    seg = torch.zeros(B, T, dtype=torch.int32)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        seg[b, n // 2:n] = 1
        ids[b, n:] = 0
    inputs = dict(input_ids=ids, segment_ids=seg, input_mask=mask)
    if num_labels == 0:
        positions = [1, 4, 5, 17, T + 2, T + 3, T + 11, 2 * T + 1, 2 * T + 5, 2 * T + 6, 2 * T + 2]
        labels = torch.randint(0, V, (len(positions),), generator=gen, dtype=torch.int32)
        labels[3] = -1  # ignored
        inputs.update(masked_positions=torch.tensor(positions, dtype=torch.int32), masked_labels=labels,
                      next_sentence_labels=torch.tensor([0, 1, 1], dtype=torch.int32))
    elif num_labels == 1:
        inputs["regression_targets"] = torch.tensor([0.5, 3.2, 4.9], dtype=torch.float32)
    else:
        inputs["class_labels"] = torch.tensor([2, 0, 1], dtype=torch.int32)[:B] % num_labels
    return inputs


CASES = [
    # name, pre_ln, num_labels, gates, hidden_act
    ("preln_pretrain_all_kept", True, 0, dict(keep=[1, 1, 1], scale=[1.0, 1.0, 1.0]), "gelu"),
    ("preln_pretrain_layer1_dropped", True, 0, dict(keep=[1, 0, 1], scale=[1.0 / 0.9, 1.0, 1.0 / 0.7]), "gelu"),
    ("preln_pretrain_tanh_gelu", True, 0, dict(keep=[1, 1, 0], scale=[1.25, 1.1, 1.0]), "gelu_tanh"),
    ("postln_pretrain_all_kept", False, 0, dict(keep=[1, 1, 1], scale=[1.0, 1.0, 1.0]), "gelu"),
    ("postln_pretrain_layer0_dropped", False, 0, dict(keep=[0, 1, 1], scale=[1.0, 1.0, 1.0]), "gelu"),
    ("preln_classify_3", True, 3, dict(keep=[1, 1, 1], scale=[1.0, 1.0, 1.0]), "gelu"),
    ("postln_regression", False, 1, dict(keep=[1, 1, 1], scale=[1.0, 1.0, 1.0]), "gelu"),
    # dropout on (0.1 everywhere), with the engine's masks for seed 42 and dropout stream 5, and PLD scales
    ("preln_pretrain_dropout", True, 0, dict(keep=[1, 0, 1], scale=[1.0 / 0.9, 1.0, 1.0 / 0.7]), "gelu"),
]
DROPOUT_CASES = {"preln_pretrain_dropout": dict(seed=42, stream=5)}


def write_safetensors(path, tensors, metadata):
    dtypes = {torch.float32: "F32", torch.int32: "I32", torch.float64: "F64"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def zero_key_bias_grads(W):
    """The key bias gradient is analytically zero (softmax ignores a per-row constant); autograd leaves rounding
    noise there, which Adam would turn into steps of about lr in random directions. The engine writes exact zeros,
    and so does this reference for the training curves."""
    for name, t in W.items():
        if name.endswith("attention.self.key.bias") and t.grad is not None:
            t.grad.zero_()


def lamb_or_adam_reference(W, no_decay, state, step, lr, kind, betas=(0.9, 0.999), eps=1e-8, wd=0.01,
                           bias_correction=True, min_coeff=0.01, max_coeff=10.0):
    """Written out from the optimizer formulas (docs/training-semantics.md): Adam without bias correction (DeepSpeed's bias_correction: false) and LAMB."""
    b1, b2 = betas
    bc1 = 1 - b1 ** step if bias_correction else 1.0
    bc2 = 1 - b2 ** step if bias_correction else 1.0
    with torch.no_grad():
        for name, p in W.items():
            g = p.grad
            m, v = state.setdefault(name, (torch.zeros_like(p), torch.zeros_like(p)))
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            decay = 0.0 if name in no_decay else wd
            if kind == "adam":
                p.sub_(lr * ((m / bc1) / ((v / bc2).sqrt() + eps) + decay * p))
            else:
                u = m / (v.sqrt() + eps) + decay * p
                w_norm, u_norm = p.norm().item(), u.norm().item()
                trust = min(max(w_norm / u_norm, min_coeff), max_coeff) if w_norm > 0 and u_norm > 0 else 1.0
                p.sub_(lr * (math.sqrt(bc2) / bc1) * trust * u)


TRAIN_CASES = [
    # name, optimizer, options
    ("adamw", "torch.optim.AdamW", dict(adam_w_mode=True, bias_correction=True)),
    ("adam_l2", "torch.optim.Adam", dict(adam_w_mode=False, bias_correction=True)),
    ("adam_no_bias_correction", "formula", dict(adam_w_mode=True, bias_correction=False)),
    ("lamb", "formula", dict(bias_correction=True)),
]
TRAIN_STEPS, TRAIN_LR, TRAIN_WD, TRAIN_CLIP = 10, 2e-3, 0.01, 1.0


def synthetic_grad(tensor_index, size, step):
    """Gradients both sides can build bit-for-bit: integer hashing, one correctly rounded division, a power-of-two
    scale per tensor spanning 2^0 .. 2^-9 (so clipping and Adam's per-element normalisation see a range of
    magnitudes). Layer 1 gets all-zero gradients at steps 3 and 7, like a PLD-dropped layer: its moments must
    still decay. Mirrored in test/helpers/synthetic-grad.ts."""
    i = torch.arange(size, dtype=torch.int64)
    h = (i * 2654435761 + step * 40503 + tensor_index * 97) % 2001
    values = (h.double() - 1000.0) / 1000.0
    return (values * 2.0 ** -(tensor_index % 10)).float()


def optimizer_for(W, name, impl, opts):
    """A callable applying one update of this case's optimizer to W (weight decay 0.01 except on biases and
    LayerNorm parameters): torch.optim where PyTorch has the optimizer, the written-out formulas otherwise."""
    no_decay = {k for k in W if k.endswith("bias") or "LayerNorm" in k}
    groups = [dict(params=[W[k] for k in W if k not in no_decay], weight_decay=TRAIN_WD),
              dict(params=[W[k] for k in W if k in no_decay], weight_decay=0.0)]
    torch_class = {"torch.optim.AdamW": torch.optim.AdamW, "torch.optim.Adam": torch.optim.Adam}.get(impl)
    if torch_class is not None:
        opt = torch_class(groups, lr=TRAIN_LR, betas=(0.9, 0.999), eps=1e-8)
        return lambda step: opt.step()
    state = {}
    return lambda step: lamb_or_adam_reference(W, no_decay, state, step, TRAIN_LR, "lamb" if name == "lamb" else "adam",
                                               wd=TRAIN_WD, bias_correction=opts["bias_correction"])


def training_metadata(cfg, name, impl, opts, **extra):
    optimizer = dict(opts, type="lamb" if name == "lamb" else "adam", lr=TRAIN_LR, weight_decay=TRAIN_WD,
                     max_grad_norm=TRAIN_CLIP, betas=[0.9, 0.999], eps=1e-8, min_coeff=0.01, max_coeff=10.0,
                     reference=impl)
    return {"format_version": FORMAT_VERSION, "generator": "scripts/make_golden.py",
            "torch_version": torch.__version__, "python_version": sys.version.split()[0],
            "config": json.dumps(dict(cfg, pre_layer_norm=True, num_labels=0)),
            "optimizer": json.dumps(optimizer), "steps": str(TRAIN_STEPS), **extra}


def make_optimizer_only_cases():
    """Ten optimizer steps on synthetic gradients, isolating the optimizer and clipping from forward/backward
    rounding: the same gradients go into PyTorch here and into the engine (setGrad) in the test."""
    cfg = dict(TINY)
    for name, impl, opts in TRAIN_CASES:
        gen = torch.Generator().manual_seed(4242)
        W = make_weights(cfg, True, 0, gen)
        initial = {k: v.detach().clone() for k, v in W.items()}
        update = optimizer_for(W, name, impl, opts)
        for step in range(1, TRAIN_STEPS + 1):
            for index, (k, t) in enumerate(W.items()):
                dropped = ".layer.1." in k and step in (3, 7)
                t.grad = torch.zeros_like(t) if dropped else synthetic_grad(index, t.numel(), step).view(t.shape)
            torch.nn.utils.clip_grad_norm_(list(W.values()), TRAIN_CLIP)
            update(step)
        tensors = {f"param/{k}": v for k, v in initial.items()}
        tensors.update({f"final/{k}": v.detach() for k, v in W.items()})
        metadata = training_metadata(cfg, name, impl, opts, dropped=json.dumps({"layer": 1, "steps": [3, 7]}))
        path = os.path.join(OUT_DIR, f"optimizer_{name}.safetensors")
        write_safetensors(path, tensors, metadata)
        print(f"{path}: written")


def train(cfg, W, batches, update, on_gradients=lambda W: None):
    """TRAIN_STEPS whole steps on W (forward, backward, global-norm clipping, update); returns the losses."""
    _, n = param_names(cfg, True, 0)
    losses = []
    for step in range(1, TRAIN_STEPS + 1):
        for t in W.values():
            t.grad = None
        out = forward(cfg, True, 0, W, n, batches[step - 1], dict(keep=[1, 1, 1], scale=[1.0, 1.0, 1.0]))
        out["loss"].backward()
        zero_key_bias_grads(W)
        on_gradients(W)
        torch.nn.utils.clip_grad_norm_(list(W.values()), TRAIN_CLIP)
        losses.append(out["loss"].item())
        update(step)
    return losses


# A gradient element under this fraction of its tensor's largest is below what fp32 resolves here: an element of
# a weight gradient is a sum of about a hundred products, rounded to about 1e-7 of the largest term each.
UNSETTLED_BELOW = 1e-6


def unsettled_elements(cfg, name, impl, opts, initial, batches):
    """The elements whose final weight fp32 cannot pin down: the same run in float64, where some step's gradient
    there is not zero but under UNSETTLED_BELOW of its tensor's largest. Adam divides each element by its own
    gradient history, so on a first step (or after small ones) the sign of such a gradient, which in fp32 is
    rounding noise, moves the weight by about lr one way or the other. Returns {name: [flat indices]}."""
    W = {k: v.detach().double().requires_grad_(True) for k, v in initial.items()}
    unsettled = {k: torch.zeros(v.numel(), dtype=torch.bool) for k, v in W.items()}

    def mark(W):
        for k, v in W.items():
            g = v.grad.detach().abs().reshape(-1)
            unsettled[k] |= (g > 0) & (g < UNSETTLED_BELOW * g.max())

    train(cfg, W, batches, optimizer_for(W, name, impl, opts), mark)
    return {k: m.nonzero().reshape(-1).tolist() for k, m in unsettled.items() if m.any()}


def make_training_curves():
    """Ten optimizer steps (forward, backward, global-norm clipping, update) on the Pre-LN tiny model, one new
    batch per step, for each optimizer; records the loss of every step, the weights after the last, and (metadata
    "unsettled") the elements an fp32 run cannot pin down."""
    cfg = dict(TINY)
    for name, impl, opts in TRAIN_CASES:
        gen = torch.Generator().manual_seed(777)  # same weights and batches for every optimizer
        W = make_weights(cfg, True, 0, gen)
        batches = [make_inputs(cfg, 0, gen) for _ in range(TRAIN_STEPS)]
        initial = {k: v.detach().clone() for k, v in W.items()}
        losses = train(cfg, W, batches, optimizer_for(W, name, impl, opts))
        unsettled = unsettled_elements(cfg, name, impl, opts, initial, batches)
        tensors = {f"param/{k}": v for k, v in initial.items()}
        tensors.update({f"final/{k}": v.detach() for k, v in W.items()})
        for i, b in enumerate(batches):
            tensors.update({f"input{i}/{k}": v for k, v in b.items()})
        tensors["output/losses"] = torch.tensor(losses, dtype=torch.float64)
        path = os.path.join(OUT_DIR, f"train_{name}.safetensors")
        metadata = training_metadata(cfg, name, impl, opts, unsettled=json.dumps(unsettled))
        write_safetensors(path, tensors, metadata)
        count = sum(len(v) for v in unsettled.values())
        print(f"{path}: losses {losses[0]:.5f} .. {losses[-1]:.5f}; {count} unsettled elements")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    if sys.argv[1:] == ["--training-curves"]:  # only the train_* files
        make_training_curves()
        return
    for index, (name, pre_ln, num_labels, gates, act) in enumerate(CASES):
        cfg = dict(TINY, hidden_act=act)
        dropout = DROPOUT_CASES.get(name)
        if dropout:
            cfg.update(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
        gen = torch.Generator().manual_seed(1234 + index)
        W = make_weights(cfg, pre_ln, num_labels, gen)
        _, n = param_names(cfg, pre_ln, num_labels)
        inputs = make_inputs(cfg, num_labels, gen)
        out = forward(cfg, pre_ln, num_labels, W, n, inputs, gates, dropout)
        out["loss"].backward()
        tensors = {f"param/{k}": v for k, v in W.items()}
        tensors.update({f"input/{k}": v for k, v in inputs.items()})
        tensors.update({f"output/{k}": (v.detach().double().reshape(-1) if k != "class_logits" else v.detach())
                        for k, v in out.items()})
        for k, v in W.items():
            tensors[f"grad/{k}"] = v.grad if v.grad is not None else torch.zeros_like(v)
        metadata = {"format_version": FORMAT_VERSION, "generator": "scripts/make_golden.py",
                    "torch_version": torch.__version__, "python_version": sys.version.split()[0],
                    "config": json.dumps(dict(cfg, pre_layer_norm=pre_ln, num_labels=num_labels)),
                    "gates": json.dumps(gates)}
        if dropout:
            metadata["dropout"] = json.dumps(dropout)
        path = os.path.join(OUT_DIR, name + ".safetensors")
        write_safetensors(path, tensors, metadata)
        print(f"{path}: loss {out['loss'].item():.6f}")
    make_training_curves()
    make_optimizer_only_cases()


if __name__ == "__main__":
    main()
