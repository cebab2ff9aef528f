// The compute a training step does, in matrix-multiply FLOPs (element-wise work is not counted, as is usual for
// model FLOP utilisation), and the machine's peak to measure it against. The count itself is the native core's
// (native/include/bert/flops.h, shared with the C++ benchmarks): per sequence of `seq` positions, with hidden H,
// FFN width F and vocabulary V, a forward pass costs 2·(4H² + 2HF)·seq + 4·seq²·H per kept encoder layer, 2H² + 4H
// for the pooler and NSP (or 2H·labels for a classifier), and 2H² + 2HV per masked token; backward twice that.
import { loadNative } from "../native/load.js";
import type { Device, ModelConfig, Precision } from "../native/types.js";

export type FlopModel = Pick<ModelConfig, "hidden_size" | "intermediate_size" | "num_hidden_layers" | "vocab_size">;

export interface StepShape {
  /** Sequences in the step (the global batch) and their padded length. */
  sequences: number;
  seq: number;
  /** Masked positions the MLM head scored, over the whole step (0 for fine-tuning). */
  maskedTokens: number;
  /** The fraction of layer evaluations run (PLD); 1 when every layer is kept. */
  keptFraction: number;
  /** Classification labels of a fine-tuning head; absent: the MLM and NSP heads. */
  numLabels?: number;
}

/** Forward + backward FLOPs of one training step of `m` with the shape `s`. */
export function trainingFlops(m: FlopModel, s: StepShape): number {
  return loadNative().trainingFlops(m, s);
}

export interface Peak {
  gflops: number;
  /** What reached it: fp32 FMAs, AVX512-BF16 dot products (`vdpbf16ps`) or AMX bf16 tile products. */
  instruction: "fp32 FMA" | "vdpbf16ps" | "AMX tdpbf16ps";
}

/**
 * This machine's peak now for `precision`'s GEMMs on `threads` threads (0: all), measured over about `seconds`
 * per instruction: fp32 FMAs for fp32 and fp16 (fp16 is emulated in fp32); for bf16 the faster of AVX512-BF16 dot
 * products and AMX tile products, since oneDNN's bf16 GEMMs run on AMX where the CPU has it. A CPU with neither
 * multiplies bf16 in fp32 arithmetic (operands widened, or oneDNN's emulation), so there the fp32 FMA peak is the
 * bf16 GEMMs' ceiling. Undefined where the build has no vector instruction at all.
 */
export function measurePeak(precision: Precision, threads: number, seconds = 0.3): Peak | undefined {
  const native = loadNative();
  const fp32 = (): Peak => ({ gflops: native.measurePeakGflops("fp32", threads, seconds), instruction: "fp32 FMA" });
  const candidates: Peak[] =
    precision === "bf16"
      ? [
          { gflops: native.measurePeakGflops("bf16", threads, seconds), instruction: "vdpbf16ps" },
          { gflops: native.measurePeakGflops("bf16_amx", threads, seconds), instruction: "AMX tdpbf16ps" },
        ]
      : [fp32()];
  let best = candidates.reduce((a, b) => (b.gflops > a.gflops ? b : a));
  if (best.gflops === 0 && precision === "bf16") best = fp32();
  return best.gflops > 0 ? best : undefined;
}

/** Whether `peak`, measured for bf16, says that this CPU multiplies bf16 in fp32 arithmetic (no bf16 instruction). */
export function bf16RunsInFp32(peak: Peak | undefined): boolean {
  return peak === undefined || peak.instruction === "fp32 FMA";
}

/** A run's compute accounting: each step's FLOPs as executed and dense, and their share of the measured peak. */
export class ComputeMeter {
  private constructor(
    private readonly model: FlopModel,
    /** The peak of one rank (this process's threads); undefined where it could not be measured. */
    readonly peak: Peak | undefined,
    private readonly ranks: number,
    /** bf16 asked for on a CPU with no bf16 instruction (measured on rank 0): its GEMMs run in fp32 arithmetic. */
    private readonly bf16Emulated = false,
  ) {}

  /**
   * Measures the peak now (rank 0 only: the other ranks write no metrics). The measured peak is the CPU's: a run on
   * a GPU reports its FLOPs without a utilisation.
   */
  static start(
    m: FlopModel,
    precision: Precision,
    threads: number,
    world: { isRoot: boolean; size: number },
    device: Device = "cpu",
  ) {
    const measuring = world.isRoot && device === "cpu";
    const measured = measuring ? measurePeak(precision, threads, 0.15) : undefined;
    return new ComputeMeter(m, measured, world.size, measuring && precision === "bf16" && bf16RunsInFp32(measured));
  }

  /** A warning for the start of a run whose precision this CPU can only emulate. */
  precisionWarning(): string | undefined {
    if (!this.bf16Emulated) return undefined;
    return (
      "[bert-train] bf16 on this CPU: it has no AVX512-BF16 (or this build was not compiled for it), so the bf16 " +
      "GEMMs run in fp32 arithmetic: no faster than fp32, and on AVX-512 CPUs (oneDNN's emulation) up to 3x slower. " +
      "Use fp32 here: set bf16.enabled to false in the DeepSpeed config (`bert-train bench --precisions fp32,bf16` " +
      "compares the two)"
    );
  }

  /** The summary screen's line. */
  describe(): string {
    const p = this.peak;
    if (p === undefined) return "peak           not measured (a GPU run, or no vector instruction for this precision)";
    return `peak           ${p.gflops.toFixed(0)} GFLOP/s per rank (${p.instruction}, measured now)`;
  }

  /** The step's JSONL fields: model_flops (dropped layers excluded), dense_flops, utilisation of the peak. */
  step(s: StepShape, stepMs: number): Record<string, number> {
    const executed = trainingFlops(this.model, s);
    const fields: Record<string, number> = {
      model_flops: executed,
      dense_flops: trainingFlops(this.model, { ...s, keptFraction: 1 }),
    };
    if (this.peak !== undefined)
      fields.utilisation = executed / (stepMs / 1000) / (this.peak.gflops * 1e9 * this.ranks);
    return fields;
  }
}
