import { LinkCapacityEstimate } from "./link-capacity-estimate.ts"
import type { BandwidthUsage } from "./trendline-overuse-detector.ts"

/**
 * Turns the overuse signal into a rate (draft-ietf-rmcat-gcc §5.5): overuse cuts the rate to
 * `DECREASE_FACTOR` × what the receiver actually got, underuse holds it while the queue drains,
 * a normal link lets it grow, by 8 %/s far from the last known capacity and by about one packet
 * per response time near it. Growth never runs far ahead of what is acknowledged (an
 * application-limited sender proves nothing about the link) nor past `growthCeilingBps`.
 */

export interface RateBounds {
  readonly minBps: number
  readonly maxBps: number
}

const DECREASE_FACTOR = 0.85
/**
 * Where a cut lands when a probe or a media burst built the queue (see
 * `OWN_QUEUE_MEDIA_SHARE`): it drains once the burst is through, so the rate keeps what the
 * link was measured to carry, less a margin (as a probe result does).
 */
const OWN_QUEUE_FACTOR = 0.95
/**
 * Media alone must run at most this share of the measured rate for the queue to count as the
 * burst's own: then it drains at least this fast once the burst is through, where a queue that
 * stood before the burst would hardly drain at all.
 */
const OWN_QUEUE_MEDIA_SHARE = 0.5
const MULTIPLICATIVE_GROWTH_PER_SECOND = 1.08
const MIN_INCREASE_BPS = 1000
const MIN_ADDITIVE_BPS_PER_SECOND = 4000
const PACKET_BYTES = 1200
const FRAMES_PER_SECOND = 30
/** Increases stop at this multiple of the acknowledged rate, plus `ACKED_HEADROOM_BPS`. */
const ACKED_GROWTH_LIMIT = 1.5
const ACKED_HEADROOM_BPS = 10_000
const DEFAULT_RTT_MS = 200
const MAX_STEP_MS = 1000

type RateControlState = "hold" | "increase" | "decrease"

export class AimdRateControl {
  private rate: number
  private state: RateControlState = "hold"
  private lastChangeMs: number | undefined
  private lastDecreaseMs: number | undefined
  private latestAckedBps: number | undefined
  private rttMs = DEFAULT_RTT_MS
  private readonly capacity = new LinkCapacityEstimate()

  constructor(
    startBps: number,
    private readonly bounds: RateBounds
  ) {
    this.rate = this.clamp(startBps)
  }

  get bitrateBps(): number {
    return this.rate
  }

  setRtt(rttMs: number): void {
    this.rttMs = rttMs
  }

  /** Jumps to a rate measured another way (a probe); the capacity estimate starts over. */
  raiseTo(bps: number, nowMs: number): void {
    if (bps <= this.rate) return
    this.rate = this.clamp(bps)
    this.capacity.reset()
    this.lastChangeMs = nowMs
  }

  /**
   * @param probedBps a rate the link was just measured to deliver (a probe that filled it): a
   *   fresher sign of capacity than the acknowledged rate, which lags behind a burst
   * @param deliveredBps the rate the link was just seen delivering a burst of media at (a
   *   keyframe sent back to back): the bottleneck's own rate, where the acknowledged rate still
   *   lags behind a jump of the sending rate such as a layer switch and its keyframe
   * @param mediaBps the acknowledged rate of media alone, without probe padding
   */
  update(
    usage: BandwidthUsage,
    ackedBps: number | undefined,
    nowMs: number,
    growthCeilingBps: number,
    probedBps?: number,
    deliveredBps?: number,
    mediaBps?: number
  ): number {
    if (ackedBps !== undefined) this.latestAckedBps = ackedBps
    if (usage === "overusing") {
      if (this.mayDecrease(nowMs)) this.decrease(nowMs, probedBps, deliveredBps, mediaBps ?? ackedBps)
      return this.rate
    }
    if (usage === "underusing") {
      this.state = "hold"
      return this.rate
    }
    if (this.state !== "increase") {
      this.state = "increase"
      this.lastChangeMs = nowMs
    }
    this.increase(nowMs, growthCeilingBps)
    return this.rate
  }

  /** At most one cut per round trip, unless the rate is far above what gets through. */
  private mayDecrease(nowMs: number): boolean {
    if (this.lastDecreaseMs === undefined) return true
    const intervalMs = Math.min(Math.max(this.rttMs, 10), 200)
    if (nowMs - this.lastDecreaseMs >= intervalMs) return true
    return this.latestAckedBps !== undefined && this.latestAckedBps < 0.5 * this.rate
  }

  /**
   * Cuts to `DECREASE_FACTOR` × the throughput: the highest of the acknowledged rate, the rate a
   * burst was just delivered at and a probe's measured rate. When the link was measured (probe
   * or burst) and media alone runs at most half of that, the queue was the burst's own and drains
   * once it is through: the cut lands at `OWN_QUEUE_FACTOR` of the measurement instead. A
   * probe's result may lift the rate (the probe showed the room); nothing else makes a cut
   * raise it.
   */
  private decrease(
    nowMs: number,
    probedBps: number | undefined,
    deliveredBps: number | undefined,
    mediaBps: number | undefined
  ): void {
    const acked = this.latestAckedBps
    const measuredBps = Math.max(probedBps ?? 0, deliveredBps ?? 0)
    const fromLink = measuredBps > 0 && (acked === undefined || measuredBps >= acked)
    const fromProbe = fromLink && probedBps !== undefined
    const throughput = fromLink ? measuredBps : acked
    if (throughput === undefined) {
      this.rate = this.clamp(this.rate * DECREASE_FACTOR)
    } else {
      const ownQueue = fromLink && mediaBps !== undefined && mediaBps <= OWN_QUEUE_MEDIA_SHARE * throughput
      let decreased = (ownQueue ? OWN_QUEUE_FACTOR : DECREASE_FACTOR) * throughput
      const capacityBps = this.capacity.bps
      // An acknowledged rate above the rate lags behind: cut from the known capacity instead.
      if (!fromLink && decreased > this.rate && capacityBps !== undefined) {
        decreased = DECREASE_FACTOR * capacityBps
      }
      if (decreased < this.rate || fromProbe) this.rate = this.clamp(decreased)
      if (throughput < this.capacity.lowerBoundBps()) this.capacity.reset()
      this.capacity.onOveruse(throughput)
    }
    this.state = "hold"
    this.lastChangeMs = nowMs
    this.lastDecreaseMs = nowMs
  }

  private increase(nowMs: number, growthCeilingBps: number): void {
    const throughput = this.latestAckedBps
    if (throughput !== undefined && throughput > this.capacity.upperBoundBps()) this.capacity.reset()
    const limit = Math.min(
      throughput === undefined
        ? Number.POSITIVE_INFINITY
        : ACKED_GROWTH_LIMIT * throughput + ACKED_HEADROOM_BPS,
      growthCeilingBps
    )
    const elapsedS = Math.min(Math.max(nowMs - (this.lastChangeMs ?? nowMs), 0), MAX_STEP_MS) / 1000
    this.lastChangeMs = nowMs
    if (this.rate >= limit) return
    const step = this.capacity.known ? this.additiveStep(elapsedS) : this.multiplicativeStep(elapsedS)
    this.rate = this.clamp(Math.min(this.rate + step, limit))
  }

  private multiplicativeStep(elapsedS: number): number {
    return Math.max(this.rate * (MULTIPLICATIVE_GROWTH_PER_SECOND ** elapsedS - 1), MIN_INCREASE_BPS)
  }

  /** About one average packet per response time (one round trip plus reaction). */
  private additiveStep(elapsedS: number): number {
    const frameBits = this.rate / FRAMES_PER_SECOND
    const packetsPerFrame = Math.ceil(frameBits / (PACKET_BYTES * 8))
    const packetBits = frameBits / Math.max(packetsPerFrame, 1)
    const responseS = (this.rttMs + 100) / 1000
    return elapsedS * Math.max(MIN_ADDITIVE_BPS_PER_SECOND, packetBits / responseS)
  }

  private clamp(bps: number): number {
    return Math.min(Math.max(bps, this.bounds.minBps), this.bounds.maxBps)
  }
}
