/**
 * Reads the link's rate off media bursts, the way a probe does: packets the SFU sent back to
 * back (a keyframe forwarded as it came in, a batch of retransmissions) leave the bottleneck
 * one after the other, so when the link spreads such a burst out, bytes over arrival span is
 * the rate the link delivers. Fed reported packets in send order; a burst is judged once a
 * packet sent after it shows it is complete.
 */

/** Packets sent within this span of a burst's first packet belong to the burst. */
const BURST_SEND_SPAN_MS = 2
/** Fewer received packets than this say too little (a small keyframe is a handful). */
const MIN_PACKETS = 4
/** Arrival spans shorter than this are too coarse (feedback has 0.25 ms ticks, plus jitter). */
const MIN_ARRIVAL_SPAN_MS = 10
/** Arrival spans beyond this are a receiver clock jump, not a measurement. */
const MAX_ARRIVAL_SPAN_MS = 2000
/** The link spread the burst out: it took at least this many times longer to arrive than to send. */
const MIN_SPREAD = 4

export class BurstDispersion {
  private firstSendMs = Number.NEGATIVE_INFINITY
  private lastSendMs = Number.NEGATIVE_INFINITY
  private firstArrivalMs = Number.POSITIVE_INFINITY
  private lastArrivalMs = Number.NEGATIVE_INFINITY
  private firstArrivalSize = 0
  private bytes = 0
  private packets = 0

  /**
   * Takes one reported packet (`arrivalTimeMs` undefined: lost). Returns the rate the link
   * delivered the burst this packet closed at, when that burst measured it.
   */
  add(sendTimeMs: number, arrivalTimeMs: number | undefined, sizeBytes: number): number | undefined {
    let measured: number | undefined
    if (sendTimeMs - this.firstSendMs > BURST_SEND_SPAN_MS || sendTimeMs < this.firstSendMs) {
      measured = this.measurement()
      this.firstSendMs = sendTimeMs
      this.lastSendMs = sendTimeMs
      this.firstArrivalMs = Number.POSITIVE_INFINITY
      this.lastArrivalMs = Number.NEGATIVE_INFINITY
      this.firstArrivalSize = 0
      this.bytes = 0
      this.packets = 0
    }
    // A lost packet counts on neither side: random loss is not the link spreading the burst.
    if (arrivalTimeMs === undefined) return measured
    this.lastSendMs = Math.max(this.lastSendMs, sendTimeMs)
    this.bytes += sizeBytes
    this.packets++
    if (arrivalTimeMs < this.firstArrivalMs) {
      this.firstArrivalMs = arrivalTimeMs
      this.firstArrivalSize = sizeBytes
    }
    if (arrivalTimeMs > this.lastArrivalMs) this.lastArrivalMs = arrivalTimeMs
    return measured
  }

  private measurement(): number | undefined {
    if (this.packets < MIN_PACKETS) return undefined
    const arrivalSpanMs = this.lastArrivalMs - this.firstArrivalMs
    const sendSpanMs = this.lastSendMs - this.firstSendMs
    if (arrivalSpanMs < MIN_ARRIVAL_SPAN_MS || arrivalSpanMs > MAX_ARRIVAL_SPAN_MS) return undefined
    if (arrivalSpanMs < MIN_SPREAD * sendSpanMs) return undefined
    // The first packet's bytes arrived before the span began.
    return ((this.bytes - this.firstArrivalSize) * 8000) / arrivalSpanMs
  }
}
