import {
  type BandwidthEstimate,
  BandwidthEstimator,
  defaultBandwidthEstimatorConfig
} from "../media/bandwidth-estimator.ts"
import { LayerAllocator, RESERVE, type SlotDemand, UPGRADE_FILL } from "../media/layer-allocator.ts"
import type { MediaCounters } from "../observability/media-counters.ts"
import type { CongestionFeedback, Peer } from "../transport/transport.ts"
import type { SubscriptionSlot } from "./subscription-slot.ts"

/** Retransmissions to a subscriber may take at most this share of its estimated downlink. */
const RETRANSMISSION_SHARE = 0.25
/** The retransmission allowance can save up this much time's worth for a burst of NACKs. */
const RETRANSMISSION_BURST_MS = 250
/** Until feedback says otherwise, a bound audio slot is assumed to carry Opus at this rate. */
const AUDIO_FALLBACK_BPS = 40_000

/**
 * What the allocator may spend: the estimate, when it measures the link. Receiver reports
 * alone only say that loss happened; until it has (the estimate fell below where it started),
 * a client without transport-cc or REMB is treated as unlimited rather than held to the
 * starting guess, which would pause a single high-rate stream that its link carries fine.
 */
const budgetOf = (estimate: BandwidthEstimate): number | undefined => {
  if (estimate.source === "none") return undefined
  if (
    estimate.source === "receiver-report" &&
    estimate.bitrateBps >= defaultBandwidthEstimatorConfig.startBps
  )
    return undefined
  return estimate.bitrateBps
}

/**
 * One subscriber's downlink: its bandwidth estimate (from the feedback its client sends), the
 * split of that budget across its video slots (each slot's simulcast layer, or a pause),
 * probe padding when a higher layer might fit, and the share retransmissions may use. The
 * participant's fiber calls `tick` and `allocate`; slots call back when their track changes.
 */
export class Downlink {
  readonly estimator = new BandwidthEstimator()
  private readonly allocator = new LayerAllocator()
  private readonly video: ReadonlyArray<SubscriptionSlot>
  private readonly audio: ReadonlyArray<SubscriptionSlot>
  private retransmissionAllowance = 0
  private lastRefillMs: number | undefined

  constructor(
    private readonly peer: Peer,
    private readonly counters: MediaCounters,
    slots: ReadonlyArray<SubscriptionSlot>
  ) {
    this.video = slots.filter((s) => s.kind === "video")
    this.audio = slots.filter((s) => s.kind === "audio")
    for (const slot of slots) {
      slot.requestAllocation = (nowMs) => this.allocate(nowMs)
      slot.allowRetransmission = (bytes) => this.spendOnRetransmission(bytes)
    }
  }

  get hasVideo(): boolean {
    return this.video.length > 0
  }

  onFeedback(feedback: CongestionFeedback): void {
    this.estimator.onFeedback(feedback)
  }

  estimate(): BandwidthEstimate {
    return this.estimator.estimate()
  }

  /** Sends the probe padding due now on a video slot that can carry it. */
  tick(nowMs: number): void {
    this.refillRetransmissions(nowMs)
    const bytes = this.estimator.tick(nowMs)
    if (bytes <= 0) return
    for (const slot of this.video) {
      const sent = this.peer.sendPadding(slot.mid, bytes)
      if (sent > 0) {
        this.counters.probePaddingBytes += sent
        return
      }
    }
  }

  /**
   * Pins a video slot to the layer with this rid (undefined: back to the allocator's choice).
   * Layers without rids (simulcast by SSRC group) are named by their index among the flowing
   * layers, lowest quality first: "0", "1", …
   */
  force(slotMid: string, rid: string | undefined, nowMs: number): boolean {
    const slot = this.video.find((s) => s.mid === slotMid)
    const track = slot?.track
    if (!slot || !track) return false
    if (rid === undefined) {
      this.allocator.force(slot.key, undefined)
    } else {
      const layers = track.flowingLayers(nowMs)
      const byIndex = /^\d{1,2}$/.test(rid) && layers.every((l) => l.rid === undefined)
      const layer = layers.find((l) => l.rid === rid) ?? (byIndex ? layers[Number(rid)] : undefined)
      if (!layer) return false
      this.allocator.force(slot.key, layer.ssrc)
    }
    this.allocate(nowMs)
    return true
  }

  /** Chooses each video slot's layer within the estimate. */
  allocate(nowMs: number): void {
    const estimate = this.estimator.estimate()
    const demands: SlotDemand[] = []
    const bound: SubscriptionSlot[] = []
    let desiredBps = 0
    for (const slot of this.video) {
      const track = slot.track
      if (!track) continue
      const layers = track.flowingLayers(nowMs)
      demands.push({ key: slot.key, layers, currentSsrc: slot.currentSsrc, preferences: slot.preferences })
      bound.push(slot)
      if (!slot.preferences.paused) desiredBps += layers.at(-1)?.bitrateBps ?? 0
    }
    const audioBps = this.audioBps(nowMs)
    // The estimate the allocator needs before it hands out every slot's top layer: growth and probes aim there.
    this.estimator.setDesiredBitrate(
      desiredBps > 0 ? (desiredBps / UPGRADE_FILL + audioBps) / (1 - RESERVE) : undefined
    )
    if (demands.length === 0) return
    const allocation = this.allocator.allocate({
      nowMs,
      budgetBps: budgetOf(estimate),
      audioBps,
      slots: demands
    })
    allocation.slots.forEach((choice, i) => {
      const slot = bound[i]!
      if (choice._tag === "Forward") slot.setLayer({ ssrc: choice.ssrc }, nowMs)
      else if (choice.reason === "bandwidth") slot.setLayer({ paused: choice.reason }, nowMs)
    })
  }

  private audioBps(nowMs: number): number {
    let total = 0
    for (const slot of this.audio) {
      const track = slot.track
      if (!track) continue
      total += track.flowingLayers(nowMs)[0]?.bitrateBps ?? AUDIO_FALLBACK_BPS
    }
    return total
  }

  private refillRetransmissions(nowMs: number): void {
    const estimate = this.estimator.estimate()
    const elapsed = this.lastRefillMs === undefined ? 0 : Math.max(0, nowMs - this.lastRefillMs)
    this.lastRefillMs = nowMs
    if (estimate.source === "none") {
      this.retransmissionAllowance = Number.POSITIVE_INFINITY
      return
    }
    const bytesPerMs = (estimate.bitrateBps * RETRANSMISSION_SHARE) / 8 / 1000
    const cap = bytesPerMs * RETRANSMISSION_BURST_MS
    const current = Number.isFinite(this.retransmissionAllowance) ? this.retransmissionAllowance : cap
    this.retransmissionAllowance = Math.min(cap, current + bytesPerMs * elapsed)
  }

  private spendOnRetransmission(bytes: number): boolean {
    if (this.retransmissionAllowance < bytes) return false
    this.retransmissionAllowance -= bytes
    return true
  }
}
