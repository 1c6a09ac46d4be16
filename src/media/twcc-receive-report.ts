import { SequenceUnwrapper } from "./sequence-number.ts"
import {
  deltaBytes,
  feedbackBodyBound,
  MAX_DELTA_TICKS,
  MIN_DELTA_TICKS,
  type TransportFeedback,
  TWCC_TICKS_PER_MS,
  TWCC_TICKS_PER_REFERENCE,
  toSigned24
} from "./twcc-feedback.ts"

/**
 * The receiving side of transport-wide congestion control on one peer connection: records the
 * arrival of every packet that carries a transport-wide sequence number, whatever its m-line,
 * and turns them into feedback for the sender's bandwidth estimate. Gaps are reported as not
 * received; a packet that arrives after its range was reported reopens the range, so the
 * sender learns it arrived after all.
 */

export interface TwccReceiveReportOptions {
  /** This many pending packets make feedback due before the caller's next periodic flush. */
  readonly earlyPackets?: number
  /** A feedback never grows past this many bytes; longer ranges are split. */
  readonly maxPacketBytes?: number
  /** Arrivals remembered (a power of two); bounds a feedback's range and how late a packet may reopen one. */
  readonly capacity?: number
}

const FIXED_BYTES = 20

export class TwccReceiveReport {
  readonly #earlyPackets: number
  readonly #maxBodyBytes: number
  readonly #mask: number
  readonly #unwrapper = new SequenceUnwrapper()
  /** Unwrapped sequence number held by each slot, -1 when empty. */
  readonly #sequence: Float64Array
  readonly #arrivalMs: Float64Array
  /** First sequence number not yet reported (undefined before the first packet). */
  #windowStart: number | undefined
  #highest = -1
  #pending = 0
  #feedbackCount = 0
  #mediaSsrc = 0
  /** Packets not recorded: duplicates, or too late or too far ahead to be reported. */
  discarded = 0

  constructor(options: TwccReceiveReportOptions = {}) {
    this.#earlyPackets = options.earlyPackets ?? 100
    this.#maxBodyBytes = (options.maxPacketBytes ?? 1200) - FIXED_BYTES - 3
    const capacity = options.capacity ?? 4096
    if (capacity < 2 || (capacity & (capacity - 1)) !== 0) throw new RangeError("capacity: a power of two")
    this.#mask = capacity - 1
    this.#sequence = new Float64Array(capacity).fill(-1)
    this.#arrivalMs = new Float64Array(capacity)
  }

  /** Packets recorded since the last feedback. */
  get pending(): number {
    return this.#pending
  }

  /**
   * Records a packet's arrival. `ssrc` becomes the feedback's media SSRC (libwebrtc applies
   * feedback only in the sender whose SSRC it names). True when feedback is due now.
   */
  record(sequenceNumber: number, ssrc: number, arrivalMs: number): boolean {
    const sequence = this.#unwrapper.unwrap(sequenceNumber)
    const capacity = this.#mask + 1
    const slot = sequence & this.#mask
    if (this.#sequence[slot] === sequence) {
      this.discarded++
      return false
    }
    if (this.#windowStart === undefined || sequence - this.#windowStart >= capacity) {
      // The first packet, or a jump too far ahead to report the gap: start afresh from it.
      if (this.#windowStart !== undefined) this.discarded += this.#pending
      this.#windowStart = sequence
      this.#highest = sequence
      this.#pending = 0
    } else if (sequence < this.#windowStart) {
      if (this.#highest - sequence >= capacity) {
        this.discarded++
        return false
      }
      this.#windowStart = sequence
    }
    this.#sequence[slot] = sequence
    this.#arrivalMs[slot] = arrivalMs
    if (sequence > this.#highest) this.#highest = sequence
    this.#mediaSsrc = ssrc >>> 0
    this.#pending++
    return this.#pending >= this.#earlyPackets
  }

  /**
   * Feedback for everything recorded since the last one (nothing when nothing is pending),
   * split so that each stays within the size bound and its deltas within 16 bits. The caller
   * flushes periodically (about every 50 ms) and whenever `record` says so.
   */
  flush(senderSsrc: number): TransportFeedback[] {
    const start = this.#windowStart
    if (this.#pending === 0 || start === undefined) return []
    this.#pending = 0
    const feedbacks: TransportFeedback[] = []
    let base = start
    while (base <= this.#highest) {
      const next = this.#build(base, senderSsrc)
      if (next.feedback) feedbacks.push(next.feedback)
      base = next.end
    }
    this.#windowStart = this.#highest + 1
    return feedbacks
  }

  #received(sequence: number): number | undefined {
    const slot = sequence & this.#mask
    return this.#sequence[slot] === sequence ? this.#arrivalMs[slot] : undefined
  }

  /** One feedback from `base` on, as long as deltas fit and the size bound allows. */
  #build(base: number, senderSsrc: number): { feedback: TransportFeedback | undefined; end: number } {
    let firstArrival: number | undefined
    for (let s = base; s <= this.#highest && firstArrival === undefined; s++) firstArrival = this.#received(s)
    if (firstArrival === undefined) return { feedback: undefined, end: this.#highest + 1 }
    const referenceTime = Math.floor((firstArrival * TWCC_TICKS_PER_MS) / TWCC_TICKS_PER_REFERENCE)
    let previousTicks = referenceTime * TWCC_TICKS_PER_REFERENCE
    const deltas: Array<number | undefined> = []
    let deltaLength = 0
    let sequence = base
    for (; sequence <= this.#highest && deltas.length < 0xffff; sequence++) {
      const arrival = this.#received(sequence)
      let delta: number | undefined
      if (arrival !== undefined) {
        const ticks = Math.round(arrival * TWCC_TICKS_PER_MS)
        delta = ticks - previousTicks
        if (delta < MIN_DELTA_TICKS || delta > MAX_DELTA_TICKS) break
        previousTicks = ticks
      }
      if (feedbackBodyBound(deltas.length + 1, deltaLength + deltaBytes(delta)) > this.#maxBodyBytes) break
      deltas.push(delta)
      deltaLength += deltaBytes(delta)
    }
    // Trailing losses belong to the next feedback, which starts at the next arrival.
    const stop = sequence
    while (deltas.length > 0 && deltas[deltas.length - 1] === undefined) {
      deltas.pop()
      sequence--
    }
    if (deltas.length === 0) return { feedback: undefined, end: stop }
    const feedback: TransportFeedback = {
      senderSsrc: senderSsrc >>> 0,
      mediaSsrc: this.#mediaSsrc,
      baseSequenceNumber: base & 0xffff,
      referenceTime: toSigned24(referenceTime),
      feedbackCount: this.#feedbackCount,
      deltas
    }
    this.#feedbackCount = (this.#feedbackCount + 1) & 0xff
    return { feedback, end: sequence }
  }
}
