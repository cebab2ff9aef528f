// The training loop against the engine alone, and what PLD saves. Both comparisons are made within one run, so
// the drift of a shared machine hits both sides alike:
// 1. inside a real `pretrain` run: the time between step ends (the whole loop) against the engine's share of it;
// 2. on one engine, interleaved rounds of steps with every layer kept, with PLD gates at θ = 0.5 from the training
//    sampler, and with no layer kept: the step time PLD saves against (1 − expected keep) × the layers' time.
//    With --post_ln, rounds of a Post-LN engine of the same size (original BERT, every layer kept) join them: the
//    baseline arm of a PLD study, timed under the same drift.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CorpusShards, PretrainingLoader } from "../data/loader.js";
import { prepareData, seq128Options } from "../data/prepare.js";
import { readVocab } from "../data/tokenizer.js";
import { benchLoaderOptions } from "./data-bench.js";
import { allLayersKept, createEngine } from "../native/engine.js";
import { projectRoot } from "../native/load.js";
import type { LayerGates } from "../native/types.js";
import { DEFAULT_ADAMW } from "../config/optimizer.js";
import { expectedKeptFraction, sampleGates } from "../train/pld.js";
import { pretrain, type PretrainArgs } from "../train/pretrain.js";
import { trainStep } from "../train/train-step.js";
import { defaultVocabFile } from "../paths.js";

export interface TrainBenchOptions {
  layers: number;
  hidden: number;
  precision: "fp32" | "bf16";
  batch: number;
  steps: number;
  /** Also time a Post-LN model of the same size, every layer kept, in the same interleaved rounds. */
  post_ln?: boolean;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function benchModel(o: TrainBenchOptions) {
  return {
    vocab_size_or_config_json_file: 30522,
    hidden_size: o.hidden,
    num_hidden_layers: o.layers,
    num_attention_heads: Math.max(1, o.hidden / 64),
    intermediate_size: 4 * o.hidden,
    max_position_embeddings: 512,
  };
}

/** The pretrain arguments of a run over the prepared corpus in `work`, with its --cf and DeepSpeed files. */
function pretrainArgs(o: TrainBenchOptions, work: string, pld: boolean, out: string): PretrainArgs {
  const cf = join(work, "cf.json");
  writeFileSync(
    cf,
    JSON.stringify({
      bert_model_config: benchModel(o),
      data: { mixed_seq_datasets: { "128": { wiki_pretrain_dataset: "corpus/128" } } },
      mixed_seq_training: { "128": { learning_rate: 1e-4, total_training_steps: 1000 } },
    }),
  );
  const ds = join(work, pld ? "ds_pld.json" : "ds.json");
  writeFileSync(
    ds,
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
  return {
    cf,
    deepspeed_config: ds,
    deepspeed: true,
    max_seq_length: 128,
    max_predictions_per_seq: 20,
    output_dir: out,
    job_name: "bench",
    seed: 1,
    print_steps: 1000,
    lr_schedule: "LE",
    lr_offset: 0,
    max_steps: o.steps,
    fp16: false,
    progressive_layer_drop: pld,
    load_checkpoint_id: "latest",
    rewarmup: false,
    data_path_prefix: work,
    threads: 0,
    device: "cpu",
    skip_corrupt_shards: false,
  };
}

/**
 * 1. The loop's own cost, inside one pretrain run: the time between step ends (loader, logs, metrics, checkpoint
 * bookkeeping included) against the time of the engine's work within those steps.
 */
async function measureLoop(o: TrainBenchOptions, work: string, print: (line: string) => void) {
  const plain = await pretrain(pretrainArgs(o, work, false, join(work, "out-plain")), {
    log: () => {},
    warn: () => {},
  });
  const intervals = plain.stepEnds.slice(1).map((t, i) => t - (plain.stepEnds[i] as number));
  const engineMs = median(plain.stepMs.slice(2));
  const loopMs = median(intervals.slice(1));
  // the run's own compute accounting: each step's FLOPs against the peak it measured at its start
  const records = readFileSync(join(work, "out-plain", "bench.metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { utilisation?: number });
  const utilisation = median(records.slice(2).flatMap((r) => (r.utilisation === undefined ? [] : [r.utilisation])));
  const ofPeak = Number.isFinite(utilisation)
    ? `the engine at ${(100 * utilisation).toFixed(0)}% of the peak measured at the start`
    : "no peak measured for this precision";
  print(
    `end to end: ${((1000 * o.batch) / loopMs).toFixed(2)} samples/s; engine alone within the same steps: ${((1000 * o.batch) / engineMs).toFixed(2)} samples/s; end to end = ${((100 * engineMs) / loopMs).toFixed(1)}% of the engine rate; ${ofPeak}`,
  );
  return { engineMs, loopMs, utilisation };
}

type Kind = "all" | "pld" | "none" | "postln";

/**
 * 2. PLD at θ = 0.5 against all layers kept and none kept, on one engine, interleaved so that machine drift hits
 * all three alike; gates drawn by the training sampler.
 */
async function measurePld(o: TrainBenchOptions, data: string) {
  const vocab = readVocab(defaultVocabFile());
  const loader = new PretrainingLoader(await CorpusShards.open(data), benchLoaderOptions(vocab, o.batch));
  const engineOf = (preLayerNorm: boolean) =>
    createEngine({
      config: { ...benchModel(o), vocab_size: 30522, pre_layer_norm: preLayerNorm, num_labels: 0 },
      precision: o.precision,
    });
  const engine = engineOf(true);
  const postLn = o.post_ln ? engineOf(false) : undefined;
  const pldConfig = { theta: 0.5, gamma: 1, sampling: "paper" as const };
  const gatesOf = (kind: Kind, step: number): LayerGates =>
    kind === "all" || kind === "postln"
      ? allLayersKept(o.layers)
      : kind === "none"
        ? { keep: new Array<boolean>(o.layers).fill(false), scale: new Array<number>(o.layers).fill(1) }
        : sampleGates(pldConfig, o.layers, 0.5, 1, step);
  const kinds: Kind[] = postLn ? ["all", "pld", "none", "postln"] : ["all", "pld", "none"];
  const times: Record<Kind, number[]> = { all: [], pld: [], none: [], postln: [] };
  let keptLayers = 0;
  let step = 0;
  const rounds = Math.max(2, Math.round(o.steps / 4));
  for (let round = 0; round < rounds; round++)
    for (const kind of kinds)
      for (let i = 0; i < 4; i++) {
        const gates = gatesOf(kind, step);
        const t = performance.now();
        await trainStep(
          kind === "postln" && postLn ? postLn : engine,
          [{ batch: loader.next(), gates, dropoutStream: step }],
          {
            optimizer: DEFAULT_ADAMW,
            lr: 1e-4,
            stepNumber: step + 1,
            maxGradNorm: 1,
          },
        );
        const ms = performance.now() - t;
        step++;
        if (round === 0 && i === 0) continue; // warm-up
        times[kind].push(ms);
        if (kind === "pld") keptLayers += gates.keep.filter(Boolean).length;
      }
  // PLD's gates vary per step, so its time is a mean; the other kinds take the same statistic, or the skew of
  // the noise (a mean sits above a median) would be counted against PLD's saving
  return {
    all: mean(times.all),
    none: mean(times.none),
    postLnMs: postLn ? mean(times.postln) : undefined,
    pldMs: mean(times.pld),
    kept: keptLayers / (times.pld.length * o.layers),
  };
}

export async function runTrainBench(o: TrainBenchOptions, print: (line: string) => void): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "bert-train-bench-train-"));
  try {
    const data = join(work, "corpus", "128");
    await prepareData(seq128Options([join(projectRoot(), "data", "corpus")], data, defaultVocabFile(), 2));
    const { engineMs, loopMs, utilisation } = await measureLoop(o, work, print);
    const { all, none, pldMs, kept, postLnMs } = await measurePld(o, data);
    const expectedKeep = expectedKeptFraction("paper", o.layers, 0.5);
    const expectedSaving = (1 - expectedKeep) * (all - none);
    const realizedSaving = (1 - kept) * (all - none);
    const saving = all - pldMs;
    print(
      `PLD at θ = 0.5: ${pldMs.toFixed(1)} ms/step; all layers kept ${all.toFixed(1)}; none kept ${none.toFixed(1)} (layers cost ${(all - none).toFixed(1)} ms); ` +
        `kept ${(100 * kept).toFixed(1)}% of layer evaluations (expected ${(100 * expectedKeep).toFixed(1)}%); saved ${saving.toFixed(1)} ms: ` +
        `${((100 * saving) / expectedSaving).toFixed(0)}% of the ${expectedSaving.toFixed(1)} ms the expected keep predicts, ` +
        `${((100 * saving) / realizedSaving).toFixed(0)}% of the ${realizedSaving.toFixed(1)} ms the gates actually drawn predict`,
    );
    if (postLnMs !== undefined)
      print(
        `Post-LN, every layer kept: ${postLnMs.toFixed(1)} ms/step (${((100 * postLnMs) / all).toFixed(1)}% of Pre-LN's)`,
      );
    print(
      JSON.stringify({
        layers: o.layers,
        hidden: o.hidden,
        precision: o.precision,
        end_to_end_samples_per_s: Number(((1000 * o.batch) / loopMs).toFixed(3)),
        engine_samples_per_s: Number(((1000 * o.batch) / engineMs).toFixed(3)),
        end_to_end_over_engine: Number((engineMs / loopMs).toFixed(3)),
        engine_utilisation_of_peak: Number.isFinite(utilisation) ? Number(utilisation.toFixed(3)) : null,
        all_kept_ms: Number(all.toFixed(2)),
        pld_ms: Number(pldMs.toFixed(2)),
        none_kept_ms: Number(none.toFixed(2)),
        pld_kept_fraction: Number(kept.toFixed(3)),
        pld_saving_over_expected: Number((saving / expectedSaving).toFixed(3)),
        pld_saving_over_drawn: Number((saving / realizedSaving).toFixed(3)),
        ...(postLnMs === undefined ? {} : { post_ln_ms: Number(postLnMs.toFixed(2)) }),
      }),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
