import type { PacketResult } from "../transport/transport.ts"

/**
 * One probe: padding paced out over a short burst so that media plus padding reach
 * `targetBps`, then the rate the subscriber received everything sent during the burst.
 * A link with room delivers the burst as fast as it was sent; a full one spreads it out to
 * its capacity, so the receive rate measures the link either way.
 */

export interface ProbeMeasurement {
  /** The rate the link showed it can carry. */
  readonly estimateBps: number
  /** The rate the subscriber received during the burst. */
  readonly receiveBps: number
  /** The burst filled the link: it was received markedly slower than it was sent. */
  readonly saturated: boolean
}

/** Packets sent this long after the last padding still count as part of the burst. */
const SEND_SLACK_MS = 2
/** The first tick sends this much time's worth, so a burst starts at once. */
const FIRST_SLICE_MS = 10
const MIN_RECEIVED_PACKETS = 5
const MIN_RECEIVED_PROBE_PACKETS = 3
/** A receive rate below this share of the send rate means the probe filled the link. */
const SATURATION_RATIO = 0.9
/** A filled link is credited with this share of what it delivered, to leave room for queues to drain. */
const SATURATED_UTILISATION = 0.95
/** Arrival spans beyond this are a receiver clock jump, not a measurement. */
const MAX_ARRIVAL_SPAN_MS = 2000

export class ProbeCluster {
  private emittedBytes = 0
  private lastEmitMs: number
  private firstSendMs = Number.POSITIVE_INFINITY
  private lastSendMs = Number.NEGATIVE_INFINITY
  private lastSentSize = 0
  private receivedBytes = 0
  private receivedPackets = 0
  private receivedProbePackets = 0
  private firstArrivalMs = Number.POSITIVE_INFINITY
  private lastArrivalMs = Number.NEGATIVE_INFINITY
  private firstArrivalSize = 0
  private coveredPastEnd = false

  constructor(
    readonly targetBps: number,
    private readonly paddingBps: number,
    readonly durationMs: number,
    readonly startMs: number
  ) {
    this.lastEmitMs = startMs
  }

  private get totalPaddingBytes(): number {
    return (this.paddingBps * this.durationMs) / 8000
  }

  get sendingDone(): boolean {
    return this.emittedBytes >= this.totalPaddingBytes
  }

  /** Bytes of padding due by `nowMs` and not yet asked for. */
  paddingDue(nowMs: number): number {
    if (this.sendingDone) return 0
    const elapsedMs = Math.max(nowMs - this.startMs, 0) + FIRST_SLICE_MS
    const dueBytes = Math.min((this.paddingBps * elapsedMs) / 8000, this.totalPaddingBytes)
    const bytes = Math.max(Math.floor(dueBytes - this.emittedBytes), 0)
    if (dueBytes >= this.totalPaddingBytes) this.emittedBytes = this.totalPaddingBytes
    else this.emittedBytes += bytes
    if (bytes > 0) this.lastEmitMs = nowMs
    return bytes
  }

  /** Takes in a packet the subscriber reported on, media or padding. */
  record(packet: PacketResult): void {
    if (packet.sendTimeMs < this.startMs) return
    if (this.sendingDone && packet.sendTimeMs > this.lastEmitMs + SEND_SLACK_MS) {
      this.coveredPastEnd = true
      return
    }
    const arrival = packet.arrivalTimeMs
    // Lost packets count on neither side: random loss is not the link spreading the burst out.
    if (arrival === undefined) return
    if (packet.sendTimeMs < this.firstSendMs) this.firstSendMs = packet.sendTimeMs
    if (packet.sendTimeMs >= this.lastSendMs) {
      this.lastSendMs = packet.sendTimeMs
      this.lastSentSize = packet.sizeBytes
    }
    this.receivedPackets++
    if (packet.probe) this.receivedProbePackets++
    this.receivedBytes += packet.sizeBytes
    if (arrival < this.firstArrivalMs) {
      this.firstArrivalMs = arrival
      this.firstArrivalSize = packet.sizeBytes
    }
    if (arrival > this.lastArrivalMs) this.lastArrivalMs = arrival
  }

  /** When the last padding was asked for. */
  get lastEmitTimeMs(): number {
    return this.lastEmitMs
  }

  /** Feedback has covered packets sent after the burst, so every packet of it has been reported. */
  get fullyReported(): boolean {
    return this.coveredPastEnd
  }

  /** What the burst showed, or undefined when it says nothing usable. */
  measurement(): ProbeMeasurement | undefined {
    if (
      this.receivedPackets < MIN_RECEIVED_PACKETS ||
      this.receivedProbePackets < MIN_RECEIVED_PROBE_PACKETS
    ) {
      return undefined
    }
    const arrivalSpanMs = this.lastArrivalMs - this.firstArrivalMs
    const sendSpanMs = this.lastSendMs - this.firstSendMs
    if (arrivalSpanMs <= 0 || arrivalSpanMs > MAX_ARRIVAL_SPAN_MS || sendSpanMs <= 0) return undefined
    const receiveBps = ((this.receivedBytes - this.firstArrivalSize) * 8000) / arrivalSpanMs
    const sendBps = Math.min(((this.receivedBytes - this.lastSentSize) * 8000) / sendSpanMs, this.targetBps)
    if (receiveBps < SATURATION_RATIO * sendBps) {
      return { estimateBps: SATURATED_UTILISATION * receiveBps, receiveBps, saturated: true }
    }
    return { estimateBps: Math.min(receiveBps, sendBps), receiveBps, saturated: false }
  }
}
