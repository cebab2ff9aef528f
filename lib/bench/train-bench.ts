// The training loop against the engine alone, and what PLD saves, measured through the real `pretrain` path:
// 1. engine only: trainStep on batches made in advance (no loader, no logging), Pre-LN and Post-LN;
// 2. end to end: `pretrain` without PLD, the rate between the ends of its steps (loader, logs, metrics included);
// 3. `pretrain` with PLD at θ̄ = 0.5 and a fast γ so θ settles within a few steps; the step time saved against
//    the expected saving, (1 − expected keep) × the time of the layers (all kept − all dropped, engine only).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CorpusShards, PretrainingLoader } from "../data/loader.js";
import { prepareData } from "../data/prepare.js";
import { readVocab } from "../data/tokenizer.js";
import { allLayersKept, createEngine } from "../native/engine.js";
import { projectRoot } from "../native/load.js";
import type { Batch, LayerGates, NativeEngine } from "../native/types.js";
import { expectedKeptFraction } from "../train/pld.js";
import { pretrain } from "../train/pretrain.js";
import { trainStep } from "../train/train-step.js";

export interface TrainBenchOptions {
  layers: number;
  hidden: number;
  precision: "fp32" | "bf16";
  batch: number;
  steps: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function runTrainBench(o: TrainBenchOptions, print: (line: string) => void): Promise<void> {
  const root = projectRoot();
  const work = mkdtempSync(join(tmpdir(), "bert-train-bench-train-"));
  try {
    const data = join(work, "corpus", "128");
    await prepareData({
      inputs: [join(root, "data", "corpus")],
      outputDir: data,
      vocab: join(root, "data", "bert-base-uncased-vocab.txt"),
      lowerCase: true,
      maxSeqLength: 128,
      shortSeqProb: 0.1,
      dupeFactor: 1,
      masking: "dynamic",
      maxPredictionsPerSeq: 20,
      maskedLmProb: 0.15,
      seed: 1,
      numShards: 2,
    });
    const model = {
      vocab_size_or_config_json_file: 30522,
      hidden_size: o.hidden,
      num_hidden_layers: o.layers,
      num_attention_heads: Math.max(1, o.hidden / 64),
      intermediate_size: 4 * o.hidden,
      max_position_embeddings: 512,
    };
    const cf = join(work, "cf.json");
    writeFileSync(
      cf,
      JSON.stringify({
        bert_model_config: model,
        data: { mixed_seq_datasets: { "128": { wiki_pretrain_dataset: "corpus/128" } } },
        mixed_seq_training: { "128": { learning_rate: 1e-4, total_training_steps: 1000 } },
      }),
    );
    const ds = (pld: boolean) => {
      const path = join(work, pld ? "ds_pld.json" : "ds.json");
      writeFileSync(
        path,
        JSON.stringify({
          train_batch_size: o.batch,
          train_micro_batch_size_per_gpu: o.batch,
          steps_per_print: 1000,
          optimizer: { type: "Adam", params: { lr: 1e-4, weight_decay: 0.01 } },
          gradient_clipping: 1.0,
          bf16: { enabled: o.precision === "bf16" },
          ...(pld ? { progressive_layer_drop: { enabled: true, theta: 0.5, gamma: 1.0 } } : {}),
        }),
      );
      return path;
    };
    const quiet = { log: () => {}, warn: () => {} };
    const args = (pld: boolean, out: string) => ({
      cf,
      deepspeed_config: ds(pld),
      deepspeed: true,
      max_seq_length: 128,
      max_predictions_per_seq: 20,
      output_dir: out,
      job_name: "bench",
      seed: 1,
      print_steps: 1000,
      lr_schedule: "LE" as const,
      lr_offset: 0,
      max_steps: o.steps,
      fp16: false,
      progressive_layer_drop: pld,
      load_checkpoint_id: "latest",
      rewarmup: false,
      data_path_prefix: work,
      threads: 0,
      skip_corrupt_shards: false,
    });

    // 1. engine only, Pre-LN like the PLD runs, batches made in advance
    const vocab = readVocab(join(root, "data", "bert-base-uncased-vocab.txt"));
    const loader = new PretrainingLoader(CorpusShards.open(data), {
      batchSize: o.batch,
      seed: 1,
      maxPredictionsPerSeq: 20,
      maskedLmProb: 0.15,
      vocabSize: vocab.tokens.length,
      special: { pad: 0, cls: 101, sep: 102, mask: 103 },
      rank: 0,
      worldSize: 1,
    });
    const batches: Batch[] = Array.from({ length: o.steps }, () => loader.next());
    const engineFor = (preLn: boolean) =>
      createEngine({
        config: { ...model, vocab_size: 30522, pre_layer_norm: preLn, num_labels: 0 },
        precision: o.precision,
      });
    const optimizer = {
      type: "adam" as const,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.01,
      adamWMode: true,
      biasCorrection: true,
      minCoeff: 0.01,
      maxCoeff: 10,
    };
    const timeSteps = async (engine: NativeEngine, gates: LayerGates) => {
      const ms: number[] = [];
      for (let i = 0; i < o.steps; i++) {
        const t = performance.now();
        await trainStep(engine, [{ batch: batches[i] as Batch, gates, dropoutStream: i }], {
          optimizer,
          lr: 1e-4,
          stepNumber: i + 1,
          maxGradNorm: 1,
        });
        ms.push(performance.now() - t);
      }
      return mean(ms.slice(2));
    };
    const preLn = engineFor(true);
    const allKept = await timeSteps(preLn, allLayersKept(o.layers));
    const noLayers = await timeSteps(preLn, {
      keep: new Array<boolean>(o.layers).fill(false),
      scale: new Array<number>(o.layers).fill(1),
    });
    print(`engine only, Pre-LN: ${allKept.toFixed(1)} ms/step (all layers dropped: ${noLayers.toFixed(1)} ms/step)`);
    const postLnMs = await timeSteps(engineFor(false), allLayersKept(o.layers));
    const engineRate = (1000 * o.batch) / postLnMs;
    print(
      `engine only, Post-LN (the model pretrain uses without PLD): ${postLnMs.toFixed(1)} ms/step, ${engineRate.toFixed(2)} samples/s`,
    );

    // 2. end to end, no PLD (Post-LN: the model without --progressive_layer_drop)
    const plain = await pretrain(args(false, join(work, "out-plain")), quiet);
    const e = plain.stepEnds;
    const endToEndRate = ((e.length - 2) * o.batch * 1000) / ((e[e.length - 1] as number) - (e[1] as number));
    print(
      `end to end (pretrain, loader and logs included): ${endToEndRate.toFixed(2)} samples/s = ${((100 * endToEndRate) / engineRate).toFixed(1)}% of the engine-only rate`,
    );

    // 3. PLD: θ settles at 0.5 within a few steps with γ = 1
    const pld = await pretrain(args(true, join(work, "out-pld")), quiet);
    const settled = pld.stepMs.slice(5);
    const pldMs = mean(settled);
    const kept = mean(pld.keptFraction.slice(5));
    const expectedKeep = expectedKeptFraction("paper", o.layers, 0.5);
    const layerMs = allKept - noLayers;
    const expectedSaving = (1 - expectedKeep) * layerMs;
    const saving = allKept - pldMs;
    print(
      `PLD at θ ≈ 0.5: ${pldMs.toFixed(1)} ms/step against ${allKept.toFixed(1)} with every layer (layers cost ${layerMs.toFixed(1)} ms); kept ${(100 * kept).toFixed(1)}% of layer evaluations (expected ${(100 * expectedKeep).toFixed(1)}%); saved ${saving.toFixed(1)} ms of the expected ${expectedSaving.toFixed(1)} ms = ${((100 * saving) / expectedSaving).toFixed(0)}%`,
    );
    print(
      JSON.stringify({
        layers: o.layers,
        hidden: o.hidden,
        precision: o.precision,
        engine_samples_per_s: Number(engineRate.toFixed(3)),
        end_to_end_samples_per_s: Number(endToEndRate.toFixed(3)),
        end_to_end_over_engine: Number((endToEndRate / engineRate).toFixed(3)),
        pld_kept_fraction: Number(kept.toFixed(3)),
        pld_saving_over_expected: Number((saving / expectedSaving).toFixed(3)),
      }),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
