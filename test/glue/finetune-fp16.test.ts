// A fine-tune in fp16 with a DeepSpeed config honours every key of its `fp16` block. Each run's metrics JSONL
// gives the loss scale every step ran with and whether it overflowed; an independent transcription of DeepSpeed's
// DynamicLossScaler.update_scale, fed the same overflows and the config's keys, must predict every scale — and
// with any one key at its default it must predict a different sequence, so the run shows that key was used.
// (consecutive_hysteresis changes nothing on these runs, whose overflows come only right after a scale increase;
// the trainer hands it to the scaler with the rest, and the loss-scaler tests cover its rule.)
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";

import { tfRecords } from "../../lib/data/tfrecord.js";
import { decodeEvent } from "../../lib/formats/tensorboard.js";
import { finetune } from "../../lib/glue/finetune.js";
import { projectRoot } from "../../lib/native/load.js";
import { collect, finetuneArgs, tinyModelFolder } from "../helpers/finetune-fixture.js";

interface Fp16Keys {
  loss_scale: number;
  initial_scale_power: number;
  loss_scale_window: number;
  hysteresis: number;
  min_loss_scale: number;
  consecutive_hysteresis: boolean;
}

/** DeepSpeed's defaults for the fp16 block. */
const DEFAULTS: Fp16Keys = {
  loss_scale: 0,
  initial_scale_power: 16,
  loss_scale_window: 1000,
  hysteresis: 2,
  min_loss_scale: 1,
  consecutive_hysteresis: false,
};

/** The scale each step runs with, given which steps overflowed (deepspeed/runtime/fp16/loss_scaler.py). */
function deepSpeedScales(k: Fp16Keys, overflows: boolean[]): number[] {
  if (k.loss_scale > 0) return overflows.map(() => k.loss_scale);
  let scale = 2 ** k.initial_scale_power;
  let hysteresis = k.hysteresis;
  let lastOverflow = -1;
  const scales: number[] = [];
  overflows.forEach((overflow, iteration) => {
    scales.push(scale);
    if (overflow) {
      if (k.hysteresis === 1 || hysteresis === 1) scale = Math.max(scale / 2, k.min_loss_scale);
      else hysteresis -= 1;
      lastOverflow = iteration;
    } else {
      if (k.consecutive_hysteresis) hysteresis = k.hysteresis;
      if ((iteration - lastOverflow) % k.loss_scale_window === 0) {
        if (!k.consecutive_hysteresis) hysteresis = k.hysteresis;
        scale *= 2;
      }
    }
  });
  return scales;
}

let dir = "";
let model = "";

before(() => {
  dir = mkdtempSync(join(tmpdir(), "bert-train-fp16-finetune-"));
  model = tinyModelFolder(dir);
  // 96 rows of the SST-2 sample the project ships: 12 steps of 8 per epoch
  const data = join(dir, "glue", "SST-2");
  mkdirSync(data, { recursive: true });
  const rows = readFileSync(join(projectRoot(), "data", "glue", "SST-2", "train.tsv"), "utf8").split("\n");
  writeFileSync(join(data, "train.tsv"), rows.slice(0, 97).join("\n") + "\n");
  writeFileSync(join(data, "dev.tsv"), rows.slice(0, 1).concat(rows.slice(200, 216)).join("\n") + "\n");
});

/** Fine-tunes 3 epochs with this fp16 block; returns each step's (loss scale, overflowed) and the log. */
async function run(name: string, fp16: Partial<Fp16Keys>) {
  const ds = join(dir, `${name}.json`);
  writeFileSync(
    ds,
    JSON.stringify({
      train_batch_size: 8,
      optimizer: { type: "Adam", params: { lr: 1e-4 } },
      fp16: { enabled: true, ...fp16 },
    }),
  );
  const { lines, output } = collect();
  const args = finetuneArgs({
    task: "SST-2",
    job_name: name,
    checkpoint: model,
    data_dir: join(dir, "glue"),
    output_dir: join(dir, "out"),
    deepspeed_config: ds,
  });
  await finetune(args, output);
  const steps = readFileSync(join(dir, "out", `${name}.metrics.jsonl`), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { loss_scale?: number; skipped?: boolean; grad_norm?: number | null })
    .filter((r) => r.loss_scale !== undefined);
  return {
    scales: steps.map((r) => r.loss_scale as number),
    overflows: steps.map((r) => r.skipped as boolean),
    gradNorms: steps.map((r) => r.grad_norm),
    lines,
  };
}

/** The observed scales match DeepSpeed's rule with `keys`, and differ from it with each of `used` at its default. */
function assertHonoured(r: { scales: number[]; overflows: boolean[] }, keys: Fp16Keys, used: (keyof Fp16Keys)[]) {
  assert.deepEqual(r.scales, deepSpeedScales(keys, r.overflows));
  for (const key of used)
    assert.notDeepEqual(
      deepSpeedScales({ ...keys, [key]: DEFAULTS[key] }, r.overflows),
      r.scales,
      `with ${key} at its default the scales would be the same: the run does not show that ${key} was used`,
    );
}

describe("fine-tuning in fp16 honours the DeepSpeed fp16 block", () => {
  it("initial_scale_power, hysteresis and loss_scale_window", async () => {
    const keys = { ...DEFAULTS, initial_scale_power: 20, hysteresis: 3, loss_scale_window: 4 };
    const r = await run("dynamic", keys);
    assert.equal(r.scales.length, 36);
    assertHonoured(r, keys, ["initial_scale_power", "hysteresis", "loss_scale_window"]);
    assert.match(r.lines.join("\n"), /Overflow detected\. Skipping step\. Attempted loss scale: 1048576, reducing to/);
    // an overflowed step's gradient norm is not finite: null in the JSONL (JSON has no inf), inf in TensorBoard
    r.overflows.forEach((skipped, i) =>
      skipped
        ? assert.equal(r.gradNorms[i], null, `step ${i + 1}`)
        : assert.ok((r.gradNorms[i] as number) > 0, `step ${i + 1}: ${r.gradNorms[i]}`),
    );
    const runs = join(dir, "out", "runs", "dynamic");
    const file = readdirSync(runs)[0] as string;
    const norms = [...tfRecords(readFileSync(join(runs, file)), file)]
      .map(decodeEvent)
      .flatMap((e) => e.values.filter((v) => v.tag === "train/grad_norm").map((v) => v.value));
    assert.deepEqual(
      norms.map((n) => !Number.isFinite(n)),
      r.overflows,
    );
  });
  it("min_loss_scale", async () => {
    const keys = { ...DEFAULTS, initial_scale_power: 24, hysteresis: 1, min_loss_scale: 2 ** 22 };
    const r = await run("minimum", keys);
    assertHonoured(r, keys, ["min_loss_scale", "hysteresis"]);
    assert.equal(Math.min(...r.scales), 2 ** 22);
  });
  it("a static loss_scale", async () => {
    const keys = { ...DEFAULTS, loss_scale: 128 };
    const r = await run("static", keys);
    assertHonoured(r, keys, ["loss_scale"]);
  });
});
