// Data parallelism with real MPI processes: 2 ranks equal 1 rank accumulating twice as many micro-batches (PLD and
// dropout on), the reduction modes agree, a run resumes on another world size, a killed rank ends the job with a
// message naming it, and a single-process run loads no MPI library.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";

import { readSafetensors, tensorFloat32 } from "../../lib/formats/safetensors.js";
import { projectRoot } from "../../lib/native/load.js";
import { prepareTiny } from "../helpers/tiny-data.js";
import { tinyPretrainArgs } from "../helpers/tiny-pretrain.js";
import { tolerance } from "../helpers/tolerances.js";

const root = projectRoot();
const cli = join(root, "dist", "bin", "bert-train.js");
const configs = join(root, "test", "fixtures", "configs");
const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-dp-"));
let dataRoot = "";

before(async () => {
  dataRoot = tmp();
  mkdirSync(join(dataRoot, "tiny"));
  await prepareTiny(
    [join(root, "test", "fixtures", "sample_text.txt"), join(root, "data", "corpus", "books", "11-0.txt")],
    join(dataRoot, "tiny", "64"),
    2,
  );
});

/** tiny_ds_fp32_pld.json with train_batch_size 16 and micro-batch 4: accumulation 4 on 1 rank, 2 on 2 ranks. */
function pretrainArgs(out: string, extra: string[], ds = join(configs, "tiny_ds_fp32_pld.json")): string[] {
  return tinyPretrainArgs({ out, dataRoot, ds, pld: true, extra: ["--train_batch_size", "16", ...extra] });
}

/** A bert-train command on 1 rank (a plain process) or several (`launch`, 1 thread each); it must succeed. */
function bertTrain(ranks: number, command: string[]) {
  const argv =
    ranks === 1
      ? [cli, ...command]
      : [cli, "launch", "--num_procs_per_node", String(ranks), "--threads_per_proc", "1", "--", ...command];
  const r = spawnSync(process.execPath, argv, { encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return r;
}

function runOn(ranks: number, out: string, extra: string[], ds?: string) {
  return bertTrain(ranks, pretrainArgs(out, extra, ds));
}

function weights(out: string, tag: string): Map<string, Float32Array> {
  const file = readSafetensors(join(out, "saved_models", "tiny", tag, "model.safetensors"));
  return new Map([...file.tensors.keys()].map((name) => [name, tensorFloat32(file, name)]));
}

/** max|a-b| / max|b| over all tensors. */
function relativeDifference(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let diff = 0;
  let largest = 0;
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [name, x] of a) {
    const y = b.get(name) as Float32Array;
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs((x[i] as number) - (y[i] as number)));
      largest = Math.max(largest, Math.abs(y[i] as number));
    }
  }
  return diff / largest;
}

function losses(out: string): number[] {
  return readFileSync(join(out, "tiny.metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { loss?: number })
    .flatMap((m) => (m.loss === undefined ? [] : [m.loss]));
}

/** A long 2-rank pre-training under `launch`, in the background: its combined output, and its end (or a timeout). */
function startLongJob(out: string, extra: string[]) {
  const argv = [cli, "launch", "--num_procs_per_node", "2", "--threads_per_proc", "1", "--"];
  argv.push(...pretrainArgs(out, ["--max_steps", "100000", "--print_steps", "1", ...extra]));
  const job = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
  const state = { output: "" };
  job.stdout.on("data", (d: Buffer) => (state.output += d.toString()));
  job.stderr.on("data", (d: Buffer) => (state.output += d.toString()));
  const exited = new Promise<number | null>((resolve) => job.on("exit", (code) => resolve(code)));
  return {
    job,
    state,
    waitFor: async (pattern: RegExp) => {
      for (let i = 0; i < 600 && !pattern.test(state.output); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(state.output, pattern, state.output);
    },
    /** The exit code, or "timeout" (and the job killed) after 60 s. */
    end: async () => {
      const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 60_000).unref());
      const code = await Promise.race([exited, timeout]);
      if (code === "timeout") job.kill("SIGKILL");
      return code;
    },
  };
}

describe("data-parallel pre-training over MPI", () => {
  it("2 ranks × accumulation 2 give the weights of 1 rank × accumulation 4 after 20 steps (PLD, dropout, fp32)", (t) => {
    const one = tmp();
    const two = tmp();
    runOn(1, one, ["--max_steps", "20"]);
    const r = runOn(2, two, ["--max_steps", "20", "--print_steps", "1"]);
    assert.match(r.stdout, /data parallel over 2 ranks: micro-batch 4 × accumulation 2 × 2 ranks = 16/);
    // rank 0 alone logs and writes: one progress line per step, one TensorBoard file, one metrics record per step
    assert.equal(r.stdout.match(/bing_bert_progress: step=20,/g)?.length, 1);
    assert.equal(readdirSync(join(two, "runs", "tiny")).filter((f) => f.startsWith("events.out.tfevents.")).length, 1);
    const rel = relativeDifference(weights(two, "epoch0_step20"), weights(one, "epoch0_step20"));
    t.diagnostic(`weights after 20 steps differ by ${rel.toExponential(2)} (relative to the largest weight)`);
    assert.ok(rel <= tolerance("data_parallel_fp32_weight_rel"), `weights differ by ${rel}`);
    const [a, b] = [losses(one), losses(two)];
    assert.equal(a.length, 20);
    const lossTol = tolerance("data_parallel_fp32_loss_rel");
    const lossErr = Math.max(...a.map((loss, i) => Math.abs(loss - (b[i] as number)) / Math.abs(loss)));
    t.diagnostic(`per-step losses differ by ${lossErr.toExponential(2)} at most (tolerance ${lossTol})`);
    assert.ok(lossErr <= lossTol, `per-step losses differ by ${lossErr}`);
    assert.ok((a[19] as number) < (a[0] as number) - 0.3, "the loss falls");
  });

  it("--delay_allreduce matches the overlapped reduction exactly; prescale_gradients and a predivide factor to rounding", () => {
    const overlapped = tmp();
    const delayed = tmp();
    const prescaled = tmp();
    runOn(2, overlapped, ["--max_steps", "6"]);
    const r = runOn(2, delayed, ["--max_steps", "6", "--delay_allreduce"]);
    assert.match(r.stdout, /after the backward pass \(--delay_allreduce\)/);
    assert.equal(relativeDifference(weights(delayed, "epoch0_step6"), weights(overlapped, "epoch0_step6")), 0);
    const ds = join(tmp(), "prescale.json");
    const base = JSON.parse(readFileSync(join(configs, "tiny_ds_fp32_pld.json"), "utf8")) as object;
    writeFileSync(
      ds,
      JSON.stringify({ ...base, prescale_gradients: false, gradient_predivide_factor: 8, wall_clock_breakdown: true }),
    );
    const breakdown = runOn(2, prescaled, ["--max_steps", "6"], ds);
    assert.match(
      breakdown.stdout,
      /time \(ms\) \| forward\+backward\+step: [\d.]+ \| allreduce: [\d.]+ \| allreduce wait: [\d.]+/,
    );
    const rel = relativeDifference(weights(prescaled, "epoch0_step6"), weights(overlapped, "epoch0_step6"));
    assert.ok(rel <= tolerance("data_parallel_fp32_weight_rel"), `predivide 8 changes the weights by ${rel}`);
    // prescale_gradients: each rank divides by the world size before the sum, the same average to rounding
    const prescaleDs = join(tmp(), "prescale_true.json");
    writeFileSync(prescaleDs, JSON.stringify({ ...base, prescale_gradients: true }));
    const prescaledTrue = tmp();
    runOn(2, prescaledTrue, ["--max_steps", "6"], prescaleDs);
    const relTrue = relativeDifference(weights(prescaledTrue, "epoch0_step6"), weights(overlapped, "epoch0_step6"));
    assert.ok(relTrue <= tolerance("data_parallel_fp32_weight_rel"), `prescaling changes the weights by ${relTrue}`);
  });

  it("resumes a 2-rank run on 1 rank: the same weights as 20 steps on 1 rank", () => {
    const whole = tmp();
    runOn(1, whole, ["--max_steps", "20"]);
    const parts = tmp();
    runOn(2, parts, ["--max_steps", "10"]);
    const r = runOn(1, parts, ["--max_steps", "20", "--load_training_checkpoint", join(parts, "saved_models", "tiny")]);
    assert.match(r.stdout, /resuming a 2-rank run on 1 ranks/);
    const rel = relativeDifference(weights(parts, "epoch0_step20"), weights(whole, "epoch0_step20"));
    assert.ok(rel <= tolerance("data_parallel_fp32_weight_rel"), `weights differ by ${rel}`);
  });

  it("a killed rank ends the job within 60 s with a message naming it; the latest checkpoint stays loadable", async (t) => {
    const out = tmp();
    const run = startLongJob(out, ["--ckpt_steps", "5"]);
    // wait for a checkpoint, then kill rank 1 (found by the rank OpenMPI put in its environment)
    await run.waitFor(/checkpointing: PATH/);
    const rank1 = readdirSync("/proc")
      .filter((pid) => /^\d+$/.test(pid))
      .find((pid) => {
        try {
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
          const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
          return cmdline.includes(out) && environ.includes("OMPI_COMM_WORLD_RANK=1");
        } catch {
          return false; // gone, or not ours to read
        }
      });
    assert.ok(rank1, "found rank 1's process");
    const killedAt = Date.now();
    process.kill(Number(rank1), "SIGKILL");
    const code = await run.end();
    assert.notEqual(code, "timeout", "the job did not end within 60 s");
    assert.notEqual(code, 0);
    assert.ok(Date.now() - killedAt < 60_000);
    t.diagnostic(`the job ended ${((Date.now() - killedAt) / 1000).toFixed(1)} s after rank 1 was killed`);
    assert.match(run.state.output, /rank 1 .*exited on signal 9/, run.state.output);
    assert.match(run.state.output, /\[bert-train launch\] the job failed/);
    // the last complete checkpoint loads: resume it on one rank for one more step
    const latest = readFileSync(join(out, "saved_models", "tiny", "latest"), "utf8").trim();
    const step = Number(/step(\d+)/.exec(latest)?.[1]);
    const r = runOn(1, out, [
      "--max_steps",
      String(step + 1),
      "--load_training_checkpoint",
      join(out, "saved_models", "tiny"),
    ]);
    assert.match(r.stdout, new RegExp(`resumed from .* at step ${step}`));
  });

  it("Ctrl-C on the launcher: every rank finishes its step and rank 0 saves a checkpoint there", async () => {
    const out = tmp();
    const run = startLongJob(out, ["--ckpt_steps", "1000"]);
    await run.waitFor(/step=5,/);
    run.job.kill("SIGINT");
    const code = await run.end();
    assert.notEqual(code, "timeout", "the job did not end within 60 s");
    const output = run.state.output;
    assert.equal(output.match(/SIGTERM: finishing the current step/g)?.length, 1, output);
    const last = Math.max(...[...output.matchAll(/bing_bert_progress: step=(\d+),/g)].map((m) => Number(m[1])));
    const latest = readFileSync(join(out, "saved_models", "tiny", "latest"), "utf8").trim();
    assert.match(latest, new RegExp(`^epoch\\d+_step${last}$`), "the checkpoint is at the last step logged");
  });

  it("finetune on 2 ranks follows 1 rank accumulating 2 micro-batches: the same per-step losses, norms and dev accuracy", (t) => {
    const pre = tmp();
    runOn(1, pre, ["--max_steps", "2"]);
    const glue = join(pre, "glue", "SST-2");
    mkdirSync(glue, { recursive: true });
    const head = (file: string, rows: number) =>
      readFileSync(join(root, "data", "glue", "SST-2", file), "utf8")
        .split("\n")
        .slice(0, rows + 1)
        .join("\n") + "\n";
    writeFileSync(join(glue, "train.tsv"), head("train.tsv", 96));
    writeFileSync(join(glue, "dev.tsv"), head("dev.tsv", 48));
    // micro-batch 8 on both: 1 rank accumulating 2, or 2 ranks
    const ft = (ranks: number, job: string) => {
      const command = [
        "finetune",
        "SST-2",
        "16",
        "1e-4",
        "2",
        job,
        join(pre, "saved_models", "tiny"),
        "--data_dir",
        join(pre, "glue"),
        "--output_dir",
        join(pre, "ft"),
        "--max_seq_length",
        "64",
        "--threads",
        "1",
        "--progressive_layer_drop",
        "--gradient_accumulation_steps",
        String(3 - ranks),
      ];
      return bertTrain(ranks, command).stdout;
    };
    ft(1, "one");
    const two = ft(2, "two");
    assert.match(two, /data parallel over 2 ranks: micro-batch 8 × accumulation 1 × 2 ranks = 16/);
    // every step's loss and gradient norm, at full precision, from the metrics file rank 0 writes
    const steps = (job: string) =>
      readFileSync(join(pre, "ft", `${job}.metrics.jsonl`), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { loss?: number; grad_norm?: number })
        .filter((r) => r.loss !== undefined) as { loss: number; grad_norm: number }[];
    const [a, b] = [steps("one"), steps("two")];
    assert.equal(a.length, 12, "96 rows, batch 16, 2 epochs");
    assert.equal(b.length, a.length);
    const lossTol = tolerance("data_parallel_fp32_loss_rel");
    const normTol = tolerance("accumulation_fp32_grad_rel"); // an fp32 norm of gradients summed in another order
    const lossErr = Math.max(...a.map((x, i) => Math.abs(x.loss - (b[i]?.loss ?? NaN)) / x.loss));
    const normErr = Math.max(...a.map((x, i) => Math.abs(x.grad_norm - (b[i]?.grad_norm ?? NaN)) / x.grad_norm));
    t.diagnostic(
      `per-step losses differ by ${lossErr.toExponential(2)} (tolerance ${lossTol}), gradient norms by ${normErr.toExponential(2)} (tolerance ${normTol})`,
    );
    assert.ok(lossErr <= lossTol, `per-step losses differ by ${lossErr}`);
    assert.ok(normErr <= normTol, `per-step gradient norms differ by ${normErr}`);
    // the dev results: the same accuracy, epoch and step; the losses (sums over ranks) to the loss tolerance
    const dev = (job: string) =>
      Object.fromEntries(
        readFileSync(join(pre, "ft", job, "eval_results.txt"), "utf8")
          .trim()
          .split("\n")
          .map((l) => l.split(" = ") as [string, string]),
      ) as Record<string, string>;
    const [d1, d2] = [dev("one"), dev("two")];
    assert.deepEqual(Object.keys(d2), Object.keys(d1));
    for (const key of ["acc", "epoch", "global_step"]) assert.equal(d2[key], d1[key], key);
    for (const key of ["eval_loss", "loss"]) {
      const err = Math.abs(Number(d2[key]) - Number(d1[key])) / Math.abs(Number(d1[key]));
      assert.ok(err <= lossTol, `${key} differs by ${err}`);
    }
  });

  it("a single-process run does not load MPI", () => {
    const script = `
      import { joinWorld } from ${JSON.stringify(join(root, "dist", "lib", "parallel", "world.js"))};
      const w = joinWorld();
      const maps = (await import("node:fs")).readFileSync("/proc/self/maps", "utf8");
      console.log(JSON.stringify({ size: w.size, mpi: /libmpi/.test(maps) }));`;
    const env = { ...process.env };
    delete env.OMPI_COMM_WORLD_SIZE;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { size: 1, mpi: false });
  });
});
