/**
 * What packet loss allows (draft-ietf-rmcat-gcc §6): above `HIGH_LOSS` the rate is cut by half
 * the loss fraction, at most once per round trip plus `DECREASE_INTERVAL_MS`; below `LOW_LOSS` it
 * may grow by 8 %/s; in between it holds, since some loss is the path's and not ours. The zones
 * are judged on loss smoothed over reports (`smoothing` is the weight of the newest): a window
 * of a few dozen packets alone is too noisy, 3 lost of 20 happens by chance at 5 % loss.
 *
 * Two uses. With transport-cc it is a *limit* on the delay-based rate that exists only after
 * heavy loss and is lifted once it has grown back to the delay-based rate (`initialBps`
 * undefined). With receiver reports alone it *is* the estimate: it starts at `initialBps` and
 * grows toward the ceiling, never lifted.
 */

export const HIGH_LOSS = 0.1
export const LOW_LOSS = 0.02
const GROWTH_PER_SECOND = 1.08
const ADDITIVE_BPS_PER_SECOND = 1000
const DECREASE_INTERVAL_MS = 300
const MAX_STEP_MS = 1000

export interface LossBasedOptions {
  readonly minBps: number
  /** Present: the estimator is the estimate, starting here. Absent: it is a limit, none at first. */
  readonly initialBps?: number
  /** Weight of the newest report in the smoothed loss, in (0, 1]. */
  readonly smoothing: number
}

export class LossBasedEstimator {
  private limit: number | undefined
  private lastUpdateMs: number | undefined
  private lastDecreaseMs: number | undefined
  private averageLoss = 0
  private latestLoss = 0
  private readonly liftable: boolean

  constructor(private readonly options: LossBasedOptions) {
    this.limit = options.initialBps
    this.liftable = options.initialBps === undefined
  }

  /** The most loss allows, undefined when loss is not limiting. */
  get limitBps(): number | undefined {
    return this.limit
  }

  get averageLossFraction(): number {
    return this.averageLoss
  }

  /**
   * The smoothed loss, or the latest report's when that is lower: once a burst of loss is over
   * (a queue that overflowed when the capacity fell), the link counts as clear again without
   * waiting seconds for the average to forget it.
   */
  get currentLossFraction(): number {
    return Math.min(this.averageLoss, this.latestLoss)
  }

  /**
   * @param lossFraction lost / reported packets since the previous report
   * @param referenceBps the rate in use now, which a decrease cuts from
   * @param ceilingBps growth stops here (the delay-based rate, or what the sender could use)
   */
  onLoss(lossFraction: number, referenceBps: number, ceilingBps: number, nowMs: number, rttMs: number): void {
    const elapsedS = Math.min(Math.max(nowMs - (this.lastUpdateMs ?? nowMs), 0), MAX_STEP_MS) / 1000
    this.lastUpdateMs = nowMs
    const smoothing = this.options.smoothing
    this.averageLoss = (1 - smoothing) * this.averageLoss + smoothing * lossFraction
    this.latestLoss = lossFraction
    const loss = this.averageLoss
    if (loss > HIGH_LOSS) {
      // The smoothed loss lags: once a report shows the burst over, it holds rather than cuts again.
      if (lossFraction <= HIGH_LOSS) return
      if (this.lastDecreaseMs !== undefined && nowMs - this.lastDecreaseMs < DECREASE_INTERVAL_MS + rttMs)
        return
      const base = Math.min(this.limit ?? referenceBps, referenceBps)
      this.limit = Math.max(this.options.minBps, base * (1 - 0.5 * loss))
      this.lastDecreaseMs = nowMs
      return
    }
    if (loss >= LOW_LOSS || this.limit === undefined) return
    const grown = this.limit * GROWTH_PER_SECOND ** elapsedS + ADDITIVE_BPS_PER_SECOND * elapsedS
    if (this.liftable && grown >= ceilingBps) {
      this.limit = undefined
    } else {
      this.limit = Math.max(this.limit, Math.min(grown, ceilingBps))
    }
  }

  /** A probe showed the link carries `bps`; unless loss is high now, the limit moves up to it. */
  raiseTo(bps: number): void {
    if (this.limit === undefined || this.currentLossFraction > HIGH_LOSS) return
    this.limit = Math.max(this.limit, bps)
  }
}
