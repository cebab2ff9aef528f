// Loss scaling for fp16 with DeepSpeed's semantics.
//
// Dynamic (`loss_scale: 0`): start at 2^initial_scale_power. On an overflow, skip the step and, once `hysteresis`
// overflows have been absorbed, halve the scale (never below min_loss_scale). After `loss_scale_window` steps
// without overflow since the last one, double it. A static scale (`loss_scale` > 0) never changes, but
// overflowing steps are still skipped.
//
// Unlike DeepSpeed, a run that keeps overflowing at the minimum scale is stopped: `update` returns a `stuck`
// verdict after `maxConsecutiveOverflowsAtMin` such steps instead of skipping forever.

export interface LossScalerConfig {
  /** 0: dynamic; > 0: this static scale. */
  lossScale: number;
  initialScalePower: number;
  lossScaleWindow: number;
  minLossScale: number;
  hysteresis: number;
  /** DeepSpeed's `consecutive_hysteresis`: every clean step restores the hysteresis, not only a scale increase. */
  consecutiveHysteresis: boolean;
  /** Overflowing steps in a row at the minimum scale before the run is declared stuck. */
  maxConsecutiveOverflowsAtMin: number;
}

export const DEFAULT_LOSS_SCALER: LossScalerConfig = {
  lossScale: 0,
  initialScalePower: 16,
  lossScaleWindow: 1000,
  minLossScale: 1,
  hysteresis: 2,
  consecutiveHysteresis: false,
  maxConsecutiveOverflowsAtMin: 50,
};

export interface LossScalerState {
  scale: number;
  hysteresisLeft: number;
  /** Scaler iterations so far (one per optimizer step, overflowing or not). */
  iteration: number;
  lastOverflowIteration: number;
  consecutiveOverflowsAtMin: number;
}

export interface ScaleUpdate {
  skipped: boolean;
  /** The scale before and after this step. */
  previousScale: number;
  scale: number;
  /** The run cannot make progress: every step overflows even at the minimum scale. */
  stuck: boolean;
}

export class LossScaler {
  readonly config: LossScalerConfig;
  private s: LossScalerState;

  constructor(config: Partial<LossScalerConfig> = {}, state?: LossScalerState) {
    this.config = { ...DEFAULT_LOSS_SCALER, ...config };
    const c = this.config;
    this.s = state ?? {
      scale: c.lossScale > 0 ? c.lossScale : Math.pow(2, c.initialScalePower),
      hysteresisLeft: c.hysteresis,
      iteration: 0,
      lastOverflowIteration: -1,
      consecutiveOverflowsAtMin: 0,
    };
  }

  get scale(): number {
    return this.s.scale;
  }

  get dynamic(): boolean {
    return this.config.lossScale === 0;
  }

  /** The state to save in a checkpoint (a copy). */
  state(): LossScalerState {
    return { ...this.s };
  }

  /** Call once per optimizer step with whether its gradients overflowed. */
  update(overflow: boolean): ScaleUpdate {
    const c = this.config;
    const s = this.s;
    const previousScale = s.scale;
    let stuck = false;
    if (overflow) {
      if (this.dynamic) {
        if (s.hysteresisLeft <= 1) {
          s.scale = Math.max(s.scale / 2, c.minLossScale);
        } else {
          s.hysteresisLeft -= 1;
        }
      }
      s.lastOverflowIteration = s.iteration;
      const atMin = !this.dynamic || previousScale <= c.minLossScale;
      s.consecutiveOverflowsAtMin = atMin ? s.consecutiveOverflowsAtMin + 1 : 0;
      stuck = s.consecutiveOverflowsAtMin >= c.maxConsecutiveOverflowsAtMin;
    } else {
      s.consecutiveOverflowsAtMin = 0;
      if (c.consecutiveHysteresis) s.hysteresisLeft = c.hysteresis;
      if (this.dynamic && (s.iteration - s.lastOverflowIteration) % c.lossScaleWindow === 0) {
        s.hysteresisLeft = c.hysteresis;
        s.scale *= 2;
      }
    }
    s.iteration += 1;
    return { skipped: overflow, previousScale, scale: s.scale, stuck };
  }
}
