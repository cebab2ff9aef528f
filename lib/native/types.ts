// The typed interface of the native addon's exports (native/src/addon). Keep in step with engine_wrap.cpp.

/** `bert_model_config` keys the engine understands, plus this project's additions. */
export interface ModelConfig {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  /** "gelu" is the erf form; "gelu_tanh" (alias "gelu_new") the tanh approximation DeepSpeed's kernel used. */
  hidden_act: "gelu" | "gelu_tanh" | "gelu_new";
  layer_norm_eps: number;
  /** true: Pre-LN (PLD's switchable transformer, DeepSpeed names); false: Post-LN (HuggingFace names). */
  pre_layer_norm: boolean;
  /** 0: pre-training heads (MLM + NSP); n > 0: a classification head with n outputs (1 = regression). */
  num_labels: number;
}

/** fp16 emulates GPU half precision: GEMM operands and results rounded to fp16 values, fp32 arithmetic. */
export type Precision = "fp32" | "bf16" | "fp16";

export type Device = "cpu" | "cuda";

/** What this build and machine offer for the CUDA backend. */
export interface CudaProbe {
  /** The addon was built with the CUDA backend. */
  compiled: boolean;
  /** Usable GPUs (compute capability 8.0 or newer); 0 without a driver. */
  deviceCount: number;
  /** Why none is usable, when deviceCount is 0. */
  reason: string;
  /** Which GEMMs the CUDA backend runs: cuBLASLt or the built-in tensor-core kernels. */
  gemm: string;
}

export interface EngineOptions {
  config: ModelConfig;
  precision: Precision;
  seed: number;
  /** 0 leaves OpenMP's default (all cores). */
  threads: number;
  /** "reference" runs the plain reference kernels (slow; for testing). CPU only. */
  kernels: "fast" | "reference";
  /** Where the engine runs; "cuda" fails (ERR_DEVICE_UNAVAILABLE) where no usable GPU is. */
  device: Device;
  /** The GPU's index, for device "cuda". */
  cudaDevice: number;
  /** Multi-process runs: average the gradients over the ranks (needs initDistributed first). */
  gradientSync?: GradientSyncSettings;
}

/** DeepSpeed's data-parallel settings, as the engine takes them. */
export interface GradientSyncSettings {
  /** Reduce each layer's gradients while the backward pass goes on (false: --delay_allreduce). */
  overlap: boolean;
  /** prescale_gradients: divide by the world size before the sum. */
  prescale: boolean;
  /** gradient_predivide_factor. */
  predivideFactor: number;
  /** Reduction bucket size in MiB. */
  bucketMb?: number;
}

/** One micro-batch; (B, T) arrays are row-major. */
export interface Batch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array;
  segmentIds: Int32Array;
  inputMask: Int32Array;
  /** Pre-training: flat indices b*T + t of the masked tokens and their ids (negative: ignored). */
  numMasked?: number;
  maskedPositions?: Int32Array;
  maskedLabels?: Int32Array;
  nextSentenceLabels?: Int32Array;
  /** Classification (num_labels > 1) or regression (num_labels == 1). */
  classLabels?: Int32Array;
  regressionTargets?: Float32Array;
}

/** Per-layer PLD switches: a dropped layer is the identity, a kept one scales its residual branches. */
export interface LayerGates {
  keep: boolean[];
  scale: number[];
}

export interface PassOptions {
  /** Dropout on (default true). */
  train?: boolean;
  /** Compute and accumulate gradients (default true). */
  backward?: boolean;
  /** Seed of the backward pass: d(loss) = gradScale (accumulation, loss scaling). Default 1. */
  gradScale?: number;
  /** Distinct per micro-batch; dropout masks are a function of (seed, dropoutStream). */
  dropoutStream?: number;
  /** The last micro-batch before step(): with gradient sync, layers are reduced as the backward pass ends them. */
  syncGradients?: boolean;
}

export interface PassResult {
  loss: number;
  mlmLoss: number;
  nspLoss: number;
  classificationLoss: number;
  mlmCorrect: number;
  mlmCount: number;
  nspCorrect: number;
  nspCount: number;
  classCorrect: number;
  classCount: number;
  classLogits: Float32Array;
}

export interface ParamInfo {
  name: string;
  shape: number[];
  size: number;
  noDecay: boolean;
}

/** The optimizer as the engine takes it (DeepSpeed's `optimizer` block, resolved). */
export interface OptimizerSettings {
  type: "adam" | "lamb";
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Adam: decoupled weight decay (AdamW) when true, L2 when false. */
  adamWMode: boolean;
  biasCorrection: boolean;
  /** LAMB trust-ratio clamp. */
  minCoeff: number;
  maxCoeff: number;
}

export interface StepSettings {
  lr: number;
  /** 1-based count of applied (not skipped) updates: drives bias correction. */
  stepNumber: number;
  /** The gradients hold lossScale x the true gradient. */
  lossScale: number;
  /** Global L2-norm clipping; 0 = off. */
  maxGradNorm: number;
}

export interface StepOutcome {
  /** A gradient was NaN or inf: nothing was updated, the gradients were cleared. */
  overflow: boolean;
  /** Global L2 norm of the unscaled gradient, before clipping. */
  gradNorm: number;
  clipFactor: number;
  /** Multi-process runs: time step() waited for reductions still in flight, and the time spent in them. */
  allreduceWaitMs: number;
  allreduceMs: number;
}

export interface NativeEngine {
  run(batch: Batch, gates: LayerGates, pass?: PassOptions): Promise<PassResult>;
  /** Overflow check, clipping, optimizer update, refresh of low-precision copies, gradients cleared. */
  step(optimizer: OptimizerSettings, settings: StepSettings): Promise<StepOutcome>;
  getOptimizerState(name: string): { expAvg: Float32Array; expAvgSq: Float32Array };
  setOptimizerState(name: string, expAvg: Float32Array, expAvgSq: Float32Array): void;
  paramInfos(): ParamInfo[];
  getParam(name: string): Float32Array;
  setParam(name: string, values: Float32Array): void;
  getGrad(name: string): Float32Array;
  /** Overwrites a gradient (tests; gradients computed elsewhere). */
  setGrad(name: string, values: Float32Array): void;
  zeroGrads(): void;
  numParams(): number;
}

export interface NativeAddon {
  Engine: new (options: EngineOptions) => NativeEngine;
  /** Throws (code ERR_INVALID_CONFIG) what creating an engine with this model config would throw. */
  validateModelConfig(config: ModelConfig): void;
  /** An exclusive flock on `path` (created if missing): the descriptor holding it, or -1 when another holds it. */
  lockFile(path: string): number;
  /** Removes the lock file and releases the lock. */
  unlockFile(fd: number, path: string): void;
  /**
   * Measured GFLOP/s of fp32 FMAs, AVX512-BF16 dot products or AMX bf16 tile products on `threads` threads (0: all);
   * 0 where the CPU (or the kernel, for AMX) does not provide the instruction.
   */
  measurePeakGflops(kind: "fp32" | "bf16" | "bf16_amx", threads: number, seconds: number): number;
  probeCuda(): CudaProbe;
  /** Forward + backward FLOPs of one training step (bert/flops.h): the model's sizes, the step's shape. */
  trainingFlops(
    model: { hidden_size: number; intermediate_size: number; num_hidden_layers: number; vocab_size: number },
    step: { sequences: number; seq: number; maskedTokens: number; keptFraction: number; numLabels?: number },
  ): number;
  /** Loads the MPI plugin and joins the job (once per process). */
  initDistributed(pluginPath: string): { rank: number; size: number; localRank: number };
  /** In place and blocking; only between engine calls. */
  allreduce(values: Float64Array, op: "sum" | "max"): void;
  abortDistributed(exitCode: number): void;
  finalizeDistributed(): void;
}

/** Errors thrown by the addon carry one of these codes. */
export type NativeErrorCode =
  | "ERR_INVALID_CONFIG"
  | "ERR_INVALID_ARGUMENT"
  | "ERR_OUT_OF_MEMORY"
  | "ERR_BACKEND"
  | "ERR_NOT_FOUND"
  | "ERR_NON_FINITE"
  | "ERR_ENGINE_BUSY"
  | "ERR_COMMUNICATION"
  | "ERR_DEVICE_UNAVAILABLE";
