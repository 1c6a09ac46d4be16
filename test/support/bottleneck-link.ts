import type { BandwidthEstimator } from "../../src/media/bandwidth-estimator.ts"
import { TRANSPORT_OVERHEAD_BYTES } from "../../src/media/packet-overhead.ts"
import type { PacketResult } from "../../src/transport/transport.ts"

/**
 * A sans-IO downlink for bandwidth-estimator tests: one bottleneck of `capacityBps` behind a
 * FIFO queue that holds `queueMs` of data at the current capacity (tail drop beyond), random
 * loss from a seeded PRNG before the queue, and a fixed propagation delay each way. Every packet
 * takes its RTP size plus `TRANSPORT_OVERHEAD_BYTES` on the link (the feedback reports the RTP
 * size), and the sender paces those wire bytes: media at min(estimate, demand) in 1200-byte
 * packets. It sends the probe padding the
 * estimator asks for, and the receiver returns transport-wide feedback every 50 ms, its
 * arrival times in its own epoch. Time advances in 1 ms steps; nothing reads a clock.
 */

export interface LinkConditions {
  readonly capacityBps: number
  readonly lossRate: number
}

export interface LinkEvent {
  readonly atMs: number
  readonly capacityBps?: number
  readonly lossRate?: number
  /** Shifts the receiver's clock epoch by this much from then on. */
  readonly receiverClockJumpMs?: number
}

export interface SessionOptions {
  readonly initial: LinkConditions
  readonly durationMs: number
  readonly demandBps: number
  readonly seed: number
  readonly events?: ReadonlyArray<LinkEvent>
  readonly queueMs?: number
  readonly propagationMs?: number
  readonly feedbackIntervalMs?: number
  readonly tickIntervalMs?: number
  /**
   * Simulcast-like sending instead of min(estimate, demand): the highest of these rates that
   * fits the estimate (the lowest when none does), with the next one up as the desired bitrate.
   */
  readonly ladderBps?: ReadonlyArray<number>
  /** Lets a test tamper with each feedback before the estimator sees it. */
  readonly mangle?: (packets: ReadonlyArray<PacketResult>) => ReadonlyArray<PacketResult>
}

export interface Sample {
  readonly atMs: number
  readonly estimateBps: number
  readonly capacityBps: number
  /** The media rate the sender was sending at. */
  readonly sendRateBps: number
  /** Queueing delay of the last packet delivered before this sample (0 when the queue is empty). */
  readonly queueDelayMs: number
}

export interface SessionTrace {
  readonly samples: ReadonlyArray<Sample>
  /** The samples within [fromMs, toMs). */
  readonly between: (fromMs: number, toMs: number) => ReadonlyArray<Sample>
}

const PACKET_BYTES = 1200
const SAMPLE_INTERVAL_MS = 100

interface SentPacket {
  readonly sendTimeMs: number
  readonly sizeBytes: number
  readonly probe: boolean
  /** Receiver-clock arrival, undefined when lost. */
  readonly arrivalTimeMs: number | undefined
  /** Global time it reached the receiver, undefined when lost. */
  readonly deliveredAtMs: number | undefined
}

/** Mulberry32: small, fast and good enough to draw losses from a seed. */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Picks the rung to send and tells the estimator what the next one up would need. */
const climbLadder = (estimator: BandwidthEstimator, ladderBps: ReadonlyArray<number>): number => {
  const estimateBps = estimator.estimate().bitrateBps
  const fitting = ladderBps.filter((rung) => rung <= estimateBps)
  const rung = fitting.length > 0 ? Math.max(...fitting) : Math.min(...ladderBps)
  const above = ladderBps.filter((candidate) => candidate > rung)
  estimator.setDesiredBitrate(above.length > 0 ? Math.min(...above) : rung)
  return rung
}

export const runSession = (estimator: BandwidthEstimator, options: SessionOptions): SessionTrace => {
  const queueMs = options.queueMs ?? 200
  const propagationMs = options.propagationMs ?? 20
  const feedbackIntervalMs = options.feedbackIntervalMs ?? 50
  const tickIntervalMs = options.tickIntervalMs ?? 10
  const random = seededRandom(options.seed)
  const events = [...(options.events ?? [])].sort((a, b) => a.atMs - b.atMs)
  let capacityBps = options.initial.capacityBps
  let lossRate = options.initial.lossRate
  let receiverEpochMs = 1_000_000_000
  let linkFreeAtMs = 0
  let mediaCredit = 0
  let lastQueueDelayMs = 0
  // Sent packets not yet reported, in send (transport sequence) order.
  const unreported: Array<SentPacket> = []
  const pendingFeedback: Array<{ readonly deliverAtMs: number; readonly packets: Array<PacketResult> }> = []
  const samples: Array<Sample> = []
  estimator.setDesiredBitrate(options.demandBps)

  const send = (nowMs: number, sizeBytes: number, probe: boolean): void => {
    const wireBytes = sizeBytes + TRANSPORT_OVERHEAD_BYTES
    const queuedBytes = (Math.max(linkFreeAtMs - nowMs, 0) * capacityBps) / 8000
    const queueLimitBytes = (queueMs * capacityBps) / 8000
    const lost = random() < lossRate || queuedBytes + wireBytes > queueLimitBytes
    if (lost) {
      unreported.push({
        sendTimeMs: nowMs,
        sizeBytes,
        probe,
        arrivalTimeMs: undefined,
        deliveredAtMs: undefined
      })
      return
    }
    const startMs = Math.max(nowMs, linkFreeAtMs)
    linkFreeAtMs = startMs + (wireBytes * 8000) / capacityBps
    const deliveredAtMs = linkFreeAtMs + propagationMs
    unreported.push({
      sendTimeMs: nowMs,
      sizeBytes,
      probe,
      arrivalTimeMs: deliveredAtMs + receiverEpochMs,
      deliveredAtMs
    })
  }

  const collectFeedback = (nowMs: number): void => {
    let last = -1
    for (let i = 0; i < unreported.length; i++) {
      const delivered = unreported[i]!.deliveredAtMs
      if (delivered !== undefined && delivered <= nowMs) last = i
    }
    if (last < 0) return
    const reported = unreported.splice(0, last + 1)
    for (const packet of reported) {
      if (packet.deliveredAtMs !== undefined) {
        lastQueueDelayMs = Math.max(
          packet.deliveredAtMs -
            propagationMs -
            packet.sendTimeMs -
            ((PACKET_BYTES + TRANSPORT_OVERHEAD_BYTES) * 8000) / capacityBps,
          0
        )
      }
    }
    pendingFeedback.push({
      deliverAtMs: nowMs + propagationMs,
      packets: reported.map((packet) => ({
        sendTimeMs: packet.sendTimeMs,
        sizeBytes: packet.sizeBytes,
        arrivalTimeMs: packet.arrivalTimeMs,
        probe: packet.probe
      }))
    })
  }

  for (let nowMs = 0; nowMs < options.durationMs; nowMs++) {
    while (events.length > 0 && events[0]!.atMs <= nowMs) {
      const event = events.shift()!
      capacityBps = event.capacityBps ?? capacityBps
      lossRate = event.lossRate ?? lossRate
      receiverEpochMs += event.receiverClockJumpMs ?? 0
    }
    while (pendingFeedback.length > 0 && pendingFeedback[0]!.deliverAtMs <= nowMs) {
      const { packets } = pendingFeedback.shift()!
      estimator.onFeedback({
        _tag: "TransportFeedback",
        nowMs,
        packets: options.mangle ? options.mangle(packets) : packets
      })
    }
    const rateBps = options.ladderBps
      ? climbLadder(estimator, options.ladderBps)
      : Math.min(estimator.estimate().bitrateBps, options.demandBps)
    const wirePacketBytes = PACKET_BYTES + TRANSPORT_OVERHEAD_BYTES
    mediaCredit = Math.min(mediaCredit + rateBps / 8000, 4 * wirePacketBytes)
    while (mediaCredit >= wirePacketBytes) {
      send(nowMs, PACKET_BYTES, false)
      mediaCredit -= wirePacketBytes
    }
    if (nowMs % tickIntervalMs === 0) {
      for (let padding = estimator.tick(nowMs); padding > 0; padding -= PACKET_BYTES) {
        send(nowMs, Math.min(padding, PACKET_BYTES), true)
      }
    }
    if (nowMs % feedbackIntervalMs === 0) collectFeedback(nowMs)
    if (nowMs % SAMPLE_INTERVAL_MS === 0) {
      samples.push({
        atMs: nowMs,
        estimateBps: estimator.estimate().bitrateBps,
        capacityBps,
        sendRateBps: rateBps,
        queueDelayMs: lastQueueDelayMs
      })
    }
  }
  return {
    samples,
    between: (fromMs, toMs) => samples.filter((sample) => sample.atMs >= fromMs && sample.atMs < toMs)
  }
}
