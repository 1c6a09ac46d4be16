import type { CongestionFeedback, PacketResult } from "../transport/transport.ts"
import { AcknowledgedBitrate } from "./acknowledged-bitrate.ts"
import { BurstDispersion } from "./burst-dispersion.ts"
import { DelayBasedEstimator } from "./delay-based-estimator.ts"
import { HIGH_LOSS, LossBasedEstimator } from "./loss-based-estimator.ts"
import { TRANSPORT_OVERHEAD_BYTES } from "./packet-overhead.ts"
import { ProbeController } from "./probe-controller.ts"
import type { BandwidthUsage } from "./trendline-overuse-detector.ts"

/**
 * One subscriber's downlink bandwidth estimate, from the congestion feedback its peer
 * connection delivers, sans-IO: time comes in with every call.
 *
 * - transport-cc: delay-based (GCC trendline + AIMD) limited by loss-based, with probing.
 * - REMB: the receiver's own estimate, a cap on whatever else is known.
 * - receiver reports alone: a loss-based estimate that starts at `startBps`.
 * - nothing yet: source "none"; the caller should treat the link as unknown, not as `startBps`.
 *
 * The caller tells it, through `setDesiredBitrate`, the most the subscriber could use right
 * now (the sum of what each slot would forward if bandwidth were no object, i.e. including the
 * next layer up). Increases stop there, since an application-limited sender proves nothing
 * above it, and probes go only as far as it.
 */

export type EstimateSource = "transport-cc" | "remb" | "receiver-report" | "none"
export type CongestionState = BandwidthUsage

export interface BandwidthEstimate {
  readonly bitrateBps: number
  readonly source: EstimateSource
  /** From the delay signal; "normal" without transport-cc. */
  readonly congestion: CongestionState
}

export interface BandwidthEstimatorConfig {
  readonly startBps: number
  readonly minBps: number
  readonly maxBps: number
}

export const defaultBandwidthEstimatorConfig: BandwidthEstimatorConfig = {
  startBps: 1_000_000,
  minBps: 50_000,
  maxBps: 10_000_000
}

export interface BandwidthEstimatorCounters {
  readonly feedbacks: number
  /** Feedback with a non-finite time or out-of-range values, ignored whole. */
  readonly rejectedFeedbacks: number
  /** Packet entries with impossible values, or beyond the per-feedback limit. */
  readonly rejectedPackets: number
  /** Entries for packets sent before ones an earlier feedback reported (repeats). */
  readonly stalePackets: number
  /** Times a receiver clock jump or persistent reordering reset the delay signal. */
  readonly delayResets: number
  readonly probesStarted: number
  readonly probesSucceeded: number
  readonly probesFailed: number
}

const MAX_PACKETS_PER_FEEDBACK = 8192
const MAX_PACKET_BYTES = 65_535
/** A send time this far ahead of the server clock is a bug in the feedback, not a packet. */
const MAX_SEND_TIME_AHEAD_MS = 1000
/** Loss is judged over this many reported packets, or fewer (at least the minimum) once the window is old enough. */
const LOSS_WINDOW_PACKETS = 50
const MIN_LOSS_WINDOW_PACKETS = 20
const LOSS_WINDOW_MS = 1000
const TRANSPORT_CC_LOSS_SMOOTHING = 0.3
/** A REMB not repeated for this long no longer caps the estimate. */
const REMB_TIMEOUT_MS = 10_000
const DEFAULT_RTT_MS = 100
const MAX_RTT_MS = 10_000
/** How long the rate a media burst was delivered at still says what the link carries now. */
const BURST_MEMORY_MS = 500

export class BandwidthEstimator {
  private readonly config: BandwidthEstimatorConfig
  private readonly delayBased: DelayBasedEstimator
  private readonly lossLimit: LossBasedEstimator
  private readonly reportBased: LossBasedEstimator
  private readonly acknowledged = new AcknowledgedBitrate()
  /** The same without probe padding: what media alone carries. */
  private readonly acknowledgedMedia = new AcknowledgedBitrate()
  private readonly probes = new ProbeController()
  private readonly bursts = new BurstDispersion()
  private burstBps: number | undefined
  private burstAtMs = Number.NEGATIVE_INFINITY
  private transportCcSeen = false
  private receiverReportSeen = false
  private rembBps: number | undefined
  private rembAtMs = 0
  private desiredBps: number | undefined
  private rttMs = DEFAULT_RTT_MS
  private rttMeasured = false
  private nowMs = Number.NEGATIVE_INFINITY
  private newestReportedSendMs = Number.NEGATIVE_INFINITY
  private packetsInLossWindow = 0
  private lostInLossWindow = 0
  private lossWindowStartMs = 0
  private feedbacks = 0
  private rejectedFeedbacks = 0
  private rejectedPackets = 0
  private stalePackets = 0

  constructor(config: Partial<BandwidthEstimatorConfig> = {}) {
    const merged = { ...defaultBandwidthEstimatorConfig, ...config }
    const { startBps, minBps, maxBps } = merged
    if (!(minBps > 0 && minBps <= startBps && startBps <= maxBps && Number.isFinite(maxBps))) {
      throw new RangeError(
        `bandwidth estimator needs 0 < min ≤ start ≤ max, got ${minBps}, ${startBps}, ${maxBps}`
      )
    }
    this.config = merged
    this.delayBased = new DelayBasedEstimator(startBps, { minBps, maxBps })
    this.lossLimit = new LossBasedEstimator({ minBps, smoothing: TRANSPORT_CC_LOSS_SMOOTHING })
    // A receiver report already sums up about a second of packets.
    this.reportBased = new LossBasedEstimator({ minBps, initialBps: startBps, smoothing: 1 })
  }

  /** Never throws: malformed feedback is ignored and counted. */
  onFeedback(feedback: CongestionFeedback): void {
    if (!Number.isFinite(feedback.nowMs)) {
      this.rejectedFeedbacks++
      return
    }
    switch (feedback._tag) {
      case "TransportFeedback":
        if (Array.isArray(feedback.packets)) this.onTransportFeedback(feedback.packets, feedback.nowMs)
        else this.rejectedFeedbacks++
        break
      case "Remb":
        this.onRemb(feedback.bitrateBps, feedback.nowMs)
        break
      case "ReceiverReport":
        this.onReceiverReport(feedback.fractionLost, feedback.rttMs, feedback.nowMs)
        break
    }
  }

  /** The most the subscriber could use now; undefined when unknown (then nothing is probed). */
  setDesiredBitrate(bps: number | undefined): void {
    this.desiredBps = bps !== undefined && Number.isFinite(bps) && bps >= 0 ? bps : undefined
  }

  /**
   * Bytes of probe padding to send now (`Peer.sendPadding`), usually 0. Call it every 10–20 ms;
   * padding due is computed from the time elapsed, so a late tick sends more, not less.
   */
  tick(nowMs: number): number {
    if (!Number.isFinite(nowMs)) return 0
    const now = this.advanceClock(nowMs)
    const estimateBps = this.estimate().bitrateBps
    return this.probes.tick(now, {
      estimateBps,
      mediaBps: this.acknowledged.bitrateBps() ?? estimateBps,
      ceilingBps: this.probeCeiling(),
      linkClear:
        this.transportCcSeen &&
        this.delayBased.usage === "normal" &&
        this.lossLimit.currentLossFraction <= HIGH_LOSS
    })
  }

  /** The round trip to the client from its receiver reports (against our sender reports), once measured. */
  roundTripMs(): number | undefined {
    return this.rttMeasured ? this.rttMs : undefined
  }

  estimate(): BandwidthEstimate {
    const remb = this.activeRemb()
    let bitrateBps: number
    let source: EstimateSource
    if (this.transportCcSeen) {
      bitrateBps = Math.min(this.delayBased.bitrateBps, this.lossLimit.limitBps ?? Number.POSITIVE_INFINITY)
      source = "transport-cc"
    } else if (this.receiverReportSeen) {
      bitrateBps = this.reportBased.limitBps ?? this.config.startBps
      source = "receiver-report"
    } else if (remb !== undefined) {
      bitrateBps = remb
      source = "remb"
    } else {
      return { bitrateBps: this.config.startBps, source: "none", congestion: "normal" }
    }
    if (remb !== undefined && remb < bitrateBps) {
      bitrateBps = remb
      source = "remb"
    }
    return {
      bitrateBps: this.clamp(bitrateBps),
      source,
      congestion: this.transportCcSeen ? this.delayBased.usage : "normal"
    }
  }

  counters(): BandwidthEstimatorCounters {
    return {
      feedbacks: this.feedbacks,
      rejectedFeedbacks: this.rejectedFeedbacks,
      rejectedPackets: this.rejectedPackets,
      stalePackets: this.stalePackets,
      delayResets: this.delayBased.resets,
      probesStarted: this.probes.probesStarted,
      probesSucceeded: this.probes.probesSucceeded,
      probesFailed: this.probes.probesFailed
    }
  }

  private onTransportFeedback(packets: ReadonlyArray<PacketResult>, nowMs: number): void {
    const now = this.advanceClock(nowMs)
    this.feedbacks++
    const accepted: Array<PacketResult> = []
    let newestSendMs = this.newestReportedSendMs
    const limit = Math.min(packets.length, MAX_PACKETS_PER_FEEDBACK)
    this.rejectedPackets += packets.length - limit
    for (let i = 0; i < limit; i++) {
      const packet = packets[i]!
      if (!isPlausible(packet, now)) {
        this.rejectedPackets++
      } else if (packet.sendTimeMs < this.newestReportedSendMs) {
        this.stalePackets++
      } else {
        accepted.push(packet)
        if (packet.sendTimeMs > newestSendMs) newestSendMs = packet.sendTimeMs
      }
    }
    this.newestReportedSendMs = newestSendMs
    if (accepted.length === 0) return
    this.transportCcSeen = true
    accepted.sort((a, b) => a.sendTimeMs - b.sendTimeMs)
    for (const reported of accepted) {
      // Counted as the link carries it, in the same bytes as the layers' costs.
      const packet = { ...reported, sizeBytes: reported.sizeBytes + TRANSPORT_OVERHEAD_BYTES }
      this.packetsInLossWindow++
      if (packet.arrivalTimeMs === undefined) {
        this.lostInLossWindow++
      } else {
        this.acknowledged.onReceived(packet.arrivalTimeMs, packet.sizeBytes)
        if (!packet.probe) this.acknowledgedMedia.onReceived(packet.arrivalTimeMs, packet.sizeBytes)
        this.delayBased.onReceivedPacket(packet.sendTimeMs, packet.arrivalTimeMs)
      }
      this.probes.onPacket(packet)
      const burstBps = this.bursts.add(packet.sendTimeMs, packet.arrivalTimeMs, packet.sizeBytes)
      if (burstBps !== undefined) {
        this.burstBps = burstBps
        this.burstAtMs = now
      }
    }
    const partial = this.probes.measurementSoFar()
    if (partial !== undefined) this.delayBased.onDelivered(partial.receiveBps, now)
    const probe = this.probes.onFeedbackEnd(now)?.measurement
    if (probe !== undefined) this.delayBased.onDelivered(probe.receiveBps, now)
    this.delayBased.onFeedbackEnd(
      this.acknowledged.bitrateBps(),
      probe?.estimateBps,
      now,
      this.growthCeiling(),
      this.deliveredBps(now),
      this.acknowledgedMedia.bitrateBps()
    )
    // Even while the probe's own queue reads as overuse: what it measured got through, and
    // delay is the delay-based half's call.
    if (probe !== undefined) this.lossLimit.raiseTo(probe.estimateBps)
    if (this.lossWindowComplete(now)) {
      const lossFraction = this.lostInLossWindow / this.packetsInLossWindow
      this.packetsInLossWindow = 0
      this.lostInLossWindow = 0
      this.lossWindowStartMs = now
      const delayBasedBps = this.delayBased.bitrateBps
      const currentBps = Math.min(delayBasedBps, this.lossLimit.limitBps ?? delayBasedBps)
      this.lossLimit.onLoss(lossFraction, currentBps, delayBasedBps, now, this.rttMs)
    }
  }

  /**
   * The rate the link just delivered a media burst at (it spread the burst out), for an
   * overuse cut to start from: after a jump in sending, such as a layer switch and its
   * keyframe, the acknowledged rate still lags far behind what the link carries.
   */
  private deliveredBps(nowMs: number): number | undefined {
    return nowMs - this.burstAtMs <= BURST_MEMORY_MS ? this.burstBps : undefined
  }

  private lossWindowComplete(nowMs: number): boolean {
    if (this.packetsInLossWindow >= LOSS_WINDOW_PACKETS) return true
    return (
      this.packetsInLossWindow >= MIN_LOSS_WINDOW_PACKETS && nowMs - this.lossWindowStartMs >= LOSS_WINDOW_MS
    )
  }

  private onRemb(bitrateBps: number, nowMs: number): void {
    if (!(Number.isFinite(bitrateBps) && bitrateBps >= 0)) {
      this.rejectedFeedbacks++
      return
    }
    this.feedbacks++
    this.rembBps = bitrateBps
    this.rembAtMs = this.advanceClock(nowMs)
  }

  private onReceiverReport(fractionLost: number, rttMs: number | undefined, nowMs: number): void {
    if (!(fractionLost >= 0 && fractionLost <= 1)) {
      this.rejectedFeedbacks++
      return
    }
    const now = this.advanceClock(nowMs)
    this.feedbacks++
    if (rttMs !== undefined && Number.isFinite(rttMs) && rttMs >= 0 && rttMs <= MAX_RTT_MS) {
      this.rttMs = rttMs
      this.rttMeasured = true
      this.delayBased.setRtt(rttMs)
    }
    this.receiverReportSeen = true
    // transport-cc reports every packet's fate; a receiver report's summary adds nothing to it.
    if (this.transportCcSeen) return
    const currentBps = this.reportBased.limitBps ?? this.config.startBps
    this.reportBased.onLoss(fractionLost, currentBps, this.growthCeiling(), now, this.rttMs)
  }

  /** Server time only moves forward here, whatever the callers pass. */
  private advanceClock(nowMs: number): number {
    if (nowMs > this.nowMs) this.nowMs = nowMs
    return this.nowMs
  }

  private activeRemb(): number | undefined {
    if (this.rembBps === undefined || this.nowMs - this.rembAtMs > REMB_TIMEOUT_MS) return undefined
    return this.rembBps
  }

  private growthCeiling(): number {
    return this.desiredBps === undefined ? this.config.maxBps : this.clamp(this.desiredBps)
  }

  private probeCeiling(): number | undefined {
    if (this.desiredBps === undefined) return undefined
    return Math.min(this.desiredBps, this.activeRemb() ?? Number.POSITIVE_INFINITY, this.config.maxBps)
  }

  private clamp(bps: number): number {
    return Math.min(Math.max(bps, this.config.minBps), this.config.maxBps)
  }
}

const isPlausible = (packet: PacketResult, nowMs: number): boolean =>
  Number.isFinite(packet.sendTimeMs) &&
  packet.sendTimeMs <= nowMs + MAX_SEND_TIME_AHEAD_MS &&
  packet.sizeBytes > 0 &&
  packet.sizeBytes <= MAX_PACKET_BYTES &&
  (packet.arrivalTimeMs === undefined || Number.isFinite(packet.arrivalTimeMs))
