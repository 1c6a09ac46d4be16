import { AimdRateControl, type RateBounds } from "./aimd-rate-control.ts"
import { InterArrivalGroups } from "./inter-arrival-groups.ts"
import { type BandwidthUsage, TrendlineOveruseDetector } from "./trendline-overuse-detector.ts"

/** How long a probe's measured rate stays a better sign of capacity than the acknowledged rate. */
const PROBE_MEMORY_MS = 1000

/**
 * The delay-based half of GCC: send bursts → delay variation → trendline overuse detector →
 * AIMD rate. Fed the received packets of each transport-wide feedback in send order, then
 * asked once per feedback to move the rate. Lost packets carry no delay and are not fed.
 */
export class DelayBasedEstimator {
  private readonly groups = new InterArrivalGroups()
  private detector = new TrendlineOveruseDetector()
  private readonly rateControl: AimdRateControl
  private overuseSeen = false
  private lastUsage: BandwidthUsage = "normal"
  private probedBps: number | undefined
  private probedAtMs = 0
  /** How often a receiver clock jump or persistent reordering made it start over. */
  resets = 0

  constructor(startBps: number, bounds: RateBounds) {
    this.rateControl = new AimdRateControl(startBps, bounds)
  }

  get bitrateBps(): number {
    return this.rateControl.bitrateBps
  }

  get usage(): BandwidthUsage {
    return this.lastUsage
  }

  setRtt(rttMs: number): void {
    this.rateControl.setRtt(rttMs)
  }

  onReceivedPacket(sendTimeMs: number, arrivalTimeMs: number): void {
    const result = this.groups.add(sendTimeMs, arrivalTimeMs)
    if (result._tag === "Reset") {
      this.resets++
      this.detector = new TrendlineOveruseDetector()
    } else if (result._tag === "Variation") {
      if (this.detector.update(result.variation) === "overusing") this.overuseSeen = true
    }
  }

  /**
   * The link was just seen delivering `receiveBps` (a probe burst, finished or not). No link
   * delivers more than it can carry, so until it ages this is a floor under the throughput a
   * decrease cuts from; the acknowledged rate lags behind a burst.
   */
  onDelivered(receiveBps: number, nowMs: number): void {
    if (
      nowMs - this.probedAtMs > PROBE_MEMORY_MS ||
      this.probedBps === undefined ||
      receiveBps > this.probedBps
    ) {
      this.probedBps = receiveBps
      this.probedAtMs = nowMs
    }
  }

  /**
   * Closes one feedback: overuse anywhere in it cuts the rate; otherwise a completed probe's
   * result, when there is one, lifts it; otherwise the detector's current state moves it.
   */
  onFeedbackEnd(
    ackedBps: number | undefined,
    probeResultBps: number | undefined,
    nowMs: number,
    growthCeilingBps: number,
    deliveredBps?: number,
    mediaBps?: number
  ): void {
    const usage = this.overuseSeen ? "overusing" : this.detector.usage
    this.overuseSeen = false
    this.lastUsage = usage
    if (
      usage !== "overusing" &&
      probeResultBps !== undefined &&
      probeResultBps > this.rateControl.bitrateBps
    ) {
      this.rateControl.raiseTo(probeResultBps, nowMs)
      return
    }
    const probedBps = nowMs - this.probedAtMs <= PROBE_MEMORY_MS ? this.probedBps : undefined
    this.rateControl.update(usage, ackedBps, nowMs, growthCeilingBps, probedBps, deliveredBps, mediaBps)
  }
}
