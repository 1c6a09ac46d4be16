import type { DelayVariation } from "./inter-arrival-groups.ts"

/**
 * Reads the trend of one-way queueing delay and says whether the link is overused: the
 * accumulated delay variation is smoothed, a least-squares line is fitted over the last
 * `WINDOW` groups, and its slope (scaled by how many samples back it) is compared with a
 * threshold that adapts to the path, as in GCC's trendline filter and adaptive threshold
 * (draft-ietf-rmcat-gcc §5.3–5.4). A rising delay means packets queue somewhere: overusing.
 * A falling one means a queue drains: underusing.
 */

export type BandwidthUsage = "normal" | "overusing" | "underusing"

const WINDOW = 20
const SMOOTHING = 0.9
const THRESHOLD_GAIN = 4
/** Sample count past which the slope is no longer scaled up. */
const MAX_SCALED_SAMPLES = 60
/** Overuse must last this long (in send time) and be seen twice before it counts. */
const OVERUSE_TIME_MS = 10
const INITIAL_THRESHOLD = 12.5
const MIN_THRESHOLD = 6
const MAX_THRESHOLD = 600
/** The threshold follows the trend slowly upward, faster downward. */
const THRESHOLD_UP_RATE = 0.0087
const THRESHOLD_DOWN_RATE = 0.039
/** Outliers this far above the threshold do not move it. */
const THRESHOLD_MAX_OFFSET = 15
const THRESHOLD_MAX_STEP_MS = 100

export class TrendlineOveruseDetector {
  private samples = 0
  private firstArrivalMs: number | undefined
  private accumulatedDelayMs = 0
  private smoothedDelayMs = 0
  /** Ring of (arrival time since first, smoothed delay) points. */
  private readonly xs = new Float64Array(WINDOW)
  private readonly ys = new Float64Array(WINDOW)
  private filled = 0
  private next = 0
  private previousTrend = 0
  private threshold = INITIAL_THRESHOLD
  private lastThresholdUpdateMs: number | undefined
  private overuseTimeMs: number | undefined
  private overuseCount = 0
  private hypothesis: BandwidthUsage = "normal"

  get usage(): BandwidthUsage {
    return this.hypothesis
  }

  update(variation: DelayVariation): BandwidthUsage {
    const { sendDeltaMs, arrivalDeltaMs, arrivalTimeMs } = variation
    this.samples = Math.min(this.samples + 1, 1000)
    this.firstArrivalMs ??= arrivalTimeMs
    this.accumulatedDelayMs += arrivalDeltaMs - sendDeltaMs
    this.smoothedDelayMs = SMOOTHING * this.smoothedDelayMs + (1 - SMOOTHING) * this.accumulatedDelayMs
    this.xs[this.next] = arrivalTimeMs - this.firstArrivalMs
    this.ys[this.next] = this.smoothedDelayMs
    this.next = (this.next + 1) % WINDOW
    this.filled = Math.min(this.filled + 1, WINDOW)
    const trend = this.filled === WINDOW ? (this.slope() ?? this.previousTrend) : this.previousTrend
    this.detect(trend, sendDeltaMs, arrivalTimeMs)
    return this.hypothesis
  }

  private detect(trend: number, sendDeltaMs: number, nowMs: number): void {
    if (this.samples < 2) {
      this.hypothesis = "normal"
      return
    }
    const modifiedTrend = Math.min(this.samples, MAX_SCALED_SAMPLES) * trend * THRESHOLD_GAIN
    if (modifiedTrend > this.threshold) {
      this.overuseTimeMs =
        this.overuseTimeMs === undefined ? sendDeltaMs / 2 : this.overuseTimeMs + sendDeltaMs
      this.overuseCount++
      if (this.overuseTimeMs > OVERUSE_TIME_MS && this.overuseCount > 1 && trend >= this.previousTrend) {
        this.overuseTimeMs = 0
        this.overuseCount = 0
        this.hypothesis = "overusing"
      }
    } else if (modifiedTrend < -this.threshold) {
      this.overuseTimeMs = undefined
      this.overuseCount = 0
      this.hypothesis = "underusing"
    } else {
      this.overuseTimeMs = undefined
      this.overuseCount = 0
      this.hypothesis = "normal"
    }
    this.previousTrend = trend
    this.adaptThreshold(modifiedTrend, nowMs)
  }

  private adaptThreshold(modifiedTrend: number, nowMs: number): void {
    const last = this.lastThresholdUpdateMs ?? nowMs
    this.lastThresholdUpdateMs = nowMs
    const magnitude = Math.abs(modifiedTrend)
    if (magnitude > this.threshold + THRESHOLD_MAX_OFFSET) return
    const rate = magnitude < this.threshold ? THRESHOLD_DOWN_RATE : THRESHOLD_UP_RATE
    const elapsedMs = Math.min(Math.max(nowMs - last, 0), THRESHOLD_MAX_STEP_MS)
    this.threshold += rate * (magnitude - this.threshold) * elapsedMs
    this.threshold = Math.min(Math.max(this.threshold, MIN_THRESHOLD), MAX_THRESHOLD)
  }

  /** Least-squares slope of the window, undefined when all points share one arrival time. */
  private slope(): number | undefined {
    let sumX = 0
    let sumY = 0
    for (let i = 0; i < WINDOW; i++) {
      sumX += this.xs[i]!
      sumY += this.ys[i]!
    }
    const meanX = sumX / WINDOW
    const meanY = sumY / WINDOW
    let numerator = 0
    let denominator = 0
    for (let i = 0; i < WINDOW; i++) {
      const dx = this.xs[i]! - meanX
      numerator += dx * (this.ys[i]! - meanY)
      denominator += dx * dx
    }
    return denominator === 0 ? undefined : numerator / denominator
  }
}
