import type { CongestionFeedback } from "../transport/transport.ts"
import type { SenderReportLog } from "./transport-round-trip.ts"
import type { TransportSendHistory } from "./transport-send-history.ts"
import { FMT_TRANSPORT_FEEDBACK, parseTransportFeedback } from "./twcc-feedback.ts"

/**
 * Reads what a subscriber's RTCP says about the downlink: transport-wide feedback, REMB and
 * the report blocks about the slots' SSRCs. Parsing is strict and bounded; a malformed packet
 * is counted and skipped (with everything after it in the compound, whose framing it broke).
 */

const PT_SENDER_REPORT = 200
const PT_RECEIVER_REPORT = 201
const PT_RTPFB = 205
const PT_PSFB = 206
const FMT_REMB = 15
const REPORT_BLOCK_BYTES = 24
const REMB_IDENTIFIER = 0x52454d42 // "REMB"

export class CongestionRtcpReader {
  /** RTCP packets (or compound tails) that were malformed. */
  malformed = 0

  constructor(
    private readonly history: TransportSendHistory,
    private readonly reports: SenderReportLog,
    /** Whether report blocks about this SSRC describe the downlink (a slot's media SSRC). */
    private readonly isSlotSsrc: (ssrc: number) => boolean
  ) {}

  read(compound: Uint8Array, nowMs: number): CongestionFeedback[] {
    const out: CongestionFeedback[] = []
    const view = new DataView(compound.buffer, compound.byteOffset, compound.byteLength)
    let offset = 0
    while (offset < compound.length) {
      if (compound.length - offset < 4 || view.getUint8(offset) >> 6 !== 2) {
        this.malformed++
        break
      }
      const length = (view.getUint16(offset + 2) + 1) * 4
      if (offset + length > compound.length) {
        this.malformed++
        break
      }
      const packet = compound.subarray(offset, offset + length)
      if (!this.#readOne(packet, nowMs, out)) this.malformed++
      offset += length
    }
    return out
  }

  /** False when the packet is one of ours to read and malformed. */
  #readOne(packet: Uint8Array, nowMs: number, out: CongestionFeedback[]): boolean {
    const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength)
    const countOrFormat = view.getUint8(0) & 0x1f
    const end =
      (view.getUint8(0) & 0x20) !== 0 ? packet.length - (packet[packet.length - 1] ?? 0) : packet.length
    switch (view.getUint8(1)) {
      case PT_RTPFB: {
        if (countOrFormat !== FMT_TRANSPORT_FEEDBACK) return true
        const parsed = parseTransportFeedback(packet)
        if (!parsed.ok) return false
        const packets = this.history.results(parsed.feedback, nowMs)
        if (packets.length > 0) out.push({ _tag: "TransportFeedback", nowMs, packets })
        return true
      }
      case PT_PSFB: {
        if (countOrFormat !== FMT_REMB || packet.length < 16 || view.getUint32(12) !== REMB_IDENTIFIER)
          return true
        if (end < 20 || end > packet.length) return false
        const word = view.getUint32(16)
        const ssrcCount = word >>> 24
        if (20 + ssrcCount * 4 > end) return false
        const exponent = (word >>> 18) & 0x3f
        const mantissa = word & 0x3ffff
        out.push({ _tag: "Remb", nowMs, bitrateBps: mantissa * 2 ** exponent })
        return true
      }
      case PT_SENDER_REPORT:
      case PT_RECEIVER_REPORT: {
        const first = view.getUint8(1) === PT_SENDER_REPORT ? 28 : 8
        if (end < first || end > packet.length || first + countOrFormat * REPORT_BLOCK_BYTES > end)
          return false
        for (let i = 0; i < countOrFormat; i++) {
          const block = first + i * REPORT_BLOCK_BYTES
          if (!this.isSlotSsrc(view.getUint32(block))) continue
          out.push({
            _tag: "ReceiverReport",
            nowMs,
            fractionLost: view.getUint8(block + 4) / 256,
            rttMs: this.reports.roundTripMs(view.getUint32(block + 16), view.getUint32(block + 20), nowMs)
          })
        }
        return true
      }
      default:
        return true
    }
  }
}
