import type { PacketResult } from "../../src/transport/transport.ts"

/** How many transport-wide sequence numbers the sender remembers (libwebrtc keeps about as many). */
const CAPACITY = 8192
/** A feedback message covering more packets than this is malformed. */
export const MAX_FEEDBACK_PACKETS = 4096

interface SentPacket {
  seq: number
  sendTimeMs: number
  sizeBytes: number
  probe: boolean
}

export type FeedbackVerdict =
  | { readonly ok: true; readonly packets: ReadonlyArray<PacketResult>; readonly unknown: number }
  | { readonly ok: false; readonly reason: string }

/**
 * The sender's side of transport-wide congestion control: it numbers every packet it sends
 * to one client (media, retransmission, padding) and remembers when it left, how big it
 * was and whether it was a probe, then turns the client's feedback into `PacketResult`s.
 * Sequence numbers are 16 bits on the wire; the history unwraps them against the latest sent.
 */
export class SentPacketHistory {
  private next = 0
  private readonly ring: Array<SentPacket | undefined> = new Array(CAPACITY)

  /** Numbers a packet about to leave; returns its 16-bit transport sequence number. */
  onSend(sendTimeMs: number, sizeBytes: number, probe: boolean): number {
    const seq = this.next++
    const slot = this.ring[seq % CAPACITY]
    if (slot) {
      slot.seq = seq
      slot.sendTimeMs = sendTimeMs
      slot.sizeBytes = sizeBytes
      slot.probe = probe
    } else this.ring[seq % CAPACITY] = { seq, sendTimeMs, sizeBytes, probe }
    return seq & 0xffff
  }

  /**
   * Reads one feedback message: results in sequence order, for the packets it covers that
   * are still remembered (`unknown` counts the others). Malformed feedback is rejected whole.
   */
  read(baseSeq: number, arrivals: ReadonlyArray<number | undefined>): FeedbackVerdict {
    if (!Number.isInteger(baseSeq) || baseSeq < 0 || baseSeq > 0xffff) {
      return { ok: false, reason: `base sequence number ${baseSeq}` }
    }
    if (arrivals.length === 0 || arrivals.length > MAX_FEEDBACK_PACKETS) {
      return { ok: false, reason: `covers ${arrivals.length} packets` }
    }
    const latest = this.next - 1
    if (latest < 0) return { ok: false, reason: "nothing was sent" }
    const base = latest - ((latest - baseSeq) & 0xffff)
    const packets: PacketResult[] = []
    let unknown = 0
    for (let i = 0; i < arrivals.length; i++) {
      const arrival = arrivals[i]
      if (arrival !== undefined && !Number.isFinite(arrival))
        return { ok: false, reason: "arrival time not finite" }
      const seq = base + i
      const sent = seq >= 0 && seq <= latest ? this.ring[seq % CAPACITY] : undefined
      if (!sent || sent.seq !== seq) {
        unknown++
        continue
      }
      packets.push({
        sendTimeMs: sent.sendTimeMs,
        sizeBytes: sent.sizeBytes,
        arrivalTimeMs: arrival,
        probe: sent.probe
      })
    }
    return { ok: true, packets, unknown }
  }
}
