#!/usr/bin/env node
// Prints the measured distances to PyTorch behind the tolerances in test/tolerances.json: for each gradient golden
// case, the worst loss error and the worst gradient error (floor only for the analytically zero key bias), fp32
// and bf16; for each whole-training-step case, the worst per-step loss error and the worst final-weight error with
// the fast and the reference kernels (the golden file's unsettled elements apart, with their largest absolute
// error beside). Run after `npm run build`: node scripts/parity-report.mjs
import { readSafetensors, tensorFloat32, tensorFloat64, tensorInt32 } from "../dist/lib/formats/safetensors.js";
import { allLayersKept, createEngine } from "../dist/lib/native/engine.js";
import { engineFor, GOLDEN_CASES, goldenScalar, loadGolden } from "../dist/test/helpers/golden.js";
import { largestMagnitude, relativeError, settledError } from "../dist/test/helpers/tolerances.js";

const rel = (a, b) => Math.abs(a - b) / Math.abs(b);

for (const name of GOLDEN_CASES) {
  const g = loadGolden(name);
  for (const precision of ["fp32", "bf16"]) {
    const e = engineFor(g, precision);
    const r = await e.run(g.batch, g.gates, g.pass);
    const expected = new Map(g.paramNames.map((p) => [p, tensorFloat32(g.file, `grad/${p}`)]));
    const floor = (precision === "fp32" ? 1e-3 : 1e-2) * largestMagnitude(expected.values());
    let worst = 0;
    let where = "";
    let keyBias = 0;
    for (const p of g.paramNames) {
      if (p.endsWith("key.bias")) {
        keyBias = Math.max(keyBias, relativeError(e.getGrad(p), expected.get(p), floor));
        continue;
      }
      const err = relativeError(e.getGrad(p), expected.get(p));
      if (err > worst) [worst, where] = [err, p];
    }
    const losses = g.config.num_labels === 0 ? ["loss", "mlm_loss", "nsp_loss"] : ["loss", "classification_loss"];
    const componentErrors = losses.map(
      (k) =>
        `${k} ${rel(k === "loss" ? r.loss : k === "mlm_loss" ? r.mlmLoss : k === "nsp_loss" ? r.nspLoss : r.classificationLoss, goldenScalar(g, k)).toExponential(2)}`,
    );
    console.log(
      `${name} ${precision}: ${componentErrors.join(", ")}; worst gradient ${worst.toExponential(2)} (${where}); key bias against the floor ${keyBias.toExponential(2)}`,
    );
  }
}

for (const name of ["adamw", "adam_l2", "adam_no_bias_correction", "lamb"]) {
  const file = readSafetensors(new URL(`../test/golden/train_${name}.safetensors`, import.meta.url).pathname);
  const config = JSON.parse(file.metadata.config);
  const o = JSON.parse(file.metadata.optimizer);
  const names = [...file.tensors.keys()].filter((k) => k.startsWith("param/")).map((k) => k.slice(6));
  const losses = tensorFloat64(file, "output/losses");
  for (const kernels of ["fast", "reference"]) {
    const e = createEngine({ config, kernels });
    for (const n of names) e.setParam(n, tensorFloat32(file, `param/${n}`));
    const optimizer = {
      type: o.type,
      beta1: o.betas[0],
      beta2: o.betas[1],
      eps: o.eps,
      weightDecay: o.weight_decay,
      adamWMode: o.adam_w_mode ?? true,
      biasCorrection: o.bias_correction,
      minCoeff: o.min_coeff,
      maxCoeff: o.max_coeff,
    };
    let worstLoss = 0;
    for (let s = 0; s < Number(file.metadata.steps); s++) {
      const p = `input${s}/`;
      const positions = tensorInt32(file, `${p}masked_positions`);
      const ids = file.tensors.get(`${p}input_ids`);
      const batch = {
        batchSize: ids.shape[0],
        seqLen: ids.shape[1],
        inputIds: tensorInt32(file, `${p}input_ids`),
        segmentIds: tensorInt32(file, `${p}segment_ids`),
        inputMask: tensorInt32(file, `${p}input_mask`),
        numMasked: positions.length,
        maskedPositions: positions,
        maskedLabels: tensorInt32(file, `${p}masked_labels`),
        nextSentenceLabels: tensorInt32(file, `${p}next_sentence_labels`),
      };
      const r = await e.run(batch, allLayersKept(config.num_hidden_layers), { train: false });
      worstLoss = Math.max(worstLoss, rel(r.loss, losses[s]));
      await e.step(optimizer, { lr: o.lr, stepNumber: s + 1, lossScale: 1, maxGradNorm: o.max_grad_norm });
    }
    const unsettled = JSON.parse(file.metadata.unsettled ?? "{}");
    const errors = names.map((n) => settledError(e.getParam(n), tensorFloat32(file, `final/${n}`), unsettled[n] ?? []));
    const worstWeight = Math.max(...errors.map((x) => x.settled));
    const worstUnsettled = Math.max(...errors.map((x) => x.unsettled));
    console.log(
      `train_${name} (${kernels} kernels): worst step loss ${worstLoss.toExponential(2)}, worst final weight ${worstWeight.toExponential(2)} (unsettled elements apart: at most ${worstUnsettled.toExponential(2)} absolute)`,
    );
  }
}

// the optimizer alone on the synthetic gradients both sides build (test/native/optimizer-parity.test.ts)
const { syntheticGrad } = await import("../dist/test/helpers/synthetic-grad.js");
for (const name of ["adamw", "adam_l2", "adam_no_bias_correction", "lamb"]) {
  const file = readSafetensors(new URL(`../test/golden/optimizer_${name}.safetensors`, import.meta.url).pathname);
  const o = JSON.parse(file.metadata.optimizer);
  const dropped = JSON.parse(file.metadata.dropped);
  const names = [...file.tensors.keys()].filter((k) => k.startsWith("param/")).map((k) => k.slice(6));
  const e = createEngine({ config: JSON.parse(file.metadata.config) });
  for (const n of names) e.setParam(n, tensorFloat32(file, `param/${n}`));
  const optimizer = {
    type: o.type,
    beta1: o.betas[0],
    beta2: o.betas[1],
    eps: o.eps,
    weightDecay: o.weight_decay,
    adamWMode: o.adam_w_mode ?? true,
    biasCorrection: o.bias_correction,
    minCoeff: o.min_coeff,
    maxCoeff: o.max_coeff,
  };
  for (let step = 1; step <= Number(file.metadata.steps); step++) {
    names.forEach((n, i) => {
      const size = tensorFloat32(file, `param/${n}`).length;
      const zero = n.includes(`.layer.${dropped.layer}.`) && dropped.steps.includes(step);
      e.setGrad(n, zero ? new Float32Array(size) : syntheticGrad(i, size, step));
    });
    await e.step(optimizer, { lr: o.lr, stepNumber: step, lossScale: 1, maxGradNorm: o.max_grad_norm });
  }
  const worst = Math.max(...names.map((n) => relativeError(e.getParam(n), tensorFloat32(file, `final/${n}`))));
  console.log(`optimizer_${name} (same gradients): worst final weight ${worst.toExponential(2)}`);
}
