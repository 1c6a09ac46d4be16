/**
 * Round-trip time from receiver reports (RFC 3550 §6.4.1): a report block echoes the middle
 * 32 bits of the NTP time of the last Sender Report it saw (LSR) and how long ago that was
 * (DLSR, 1/65536 s). Remembering when each of our reports left gives RTT = now - sent - DLSR
 * without comparing clocks.
 */

const REMEMBERED = 32

export class SenderReportLog {
  readonly #ntpMiddle = new Float64Array(REMEMBERED).fill(-1)
  readonly #sentAtMs = new Float64Array(REMEMBERED)
  #next = 0

  /** Notes that a Sender Report whose NTP time has these middle 32 bits left at `sentAtMs`. */
  record(ntpMiddle32: number, sentAtMs: number): void {
    this.#ntpMiddle[this.#next] = ntpMiddle32 >>> 0
    this.#sentAtMs[this.#next] = sentAtMs
    this.#next = (this.#next + 1) % REMEMBERED
  }

  /** Milliseconds, or undefined when the block names no report of ours (LSR 0 or unknown). */
  roundTripMs(lsr: number, dlsr: number, nowMs: number): number | undefined {
    if (lsr === 0) return undefined
    for (let i = 0; i < REMEMBERED; i++) {
      if (this.#ntpMiddle[i] !== lsr >>> 0) continue
      const rtt = nowMs - this.#sentAtMs[i]! - (dlsr / 65536) * 1000
      return Math.max(rtt, 0)
    }
    return undefined
  }
}
