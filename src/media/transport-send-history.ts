import type { PacketResult } from "../transport/transport.ts"
import {
  type TransportFeedback,
  TWCC_REFERENCE_TIME_MS,
  TWCC_TICKS_PER_MS,
  toSigned24
} from "./twcc-feedback.ts"

/**
 * The sending side of transport-wide congestion control on one peer connection: one
 * transport-wide sequence number counter across every slot, retransmission and probe, the
 * send time, size and kind of each recent packet, and the translation of the subscriber's
 * feedback into `PacketResult`s.
 */

export interface TransportSendHistoryOptions {
  /** Packets remembered (a power of two). */
  readonly capacity?: number
  /** Packets sent longer ago than this are no longer matched with feedback. */
  readonly maxAgeMs?: number
}

const UNREPORTED = 0
const REPORTED_LOST = 1
const REPORTED_RECEIVED = 2

const REFERENCE_MODULUS = 0x1000000

export class TransportSendHistory {
  readonly #mask: number
  readonly #maxAgeMs: number
  /** Unwrapped sequence number of each slot's packet, -1 when the slot is empty. */
  readonly #sequence: Float64Array
  readonly #sendTimeMs: Float64Array
  readonly #size: Uint32Array
  readonly #probe: Uint8Array
  readonly #state: Uint8Array
  /** Unwrapped number of the next packet; starts one cycle up so lookups never go negative. */
  #next = 0x10000
  #referenceTime: number | undefined
  /** Feedback entries about packets that are unknown, expired or already reported. */
  ignored = 0

  constructor(options: TransportSendHistoryOptions = {}) {
    const capacity = options.capacity ?? 8192
    if (capacity < 2 || (capacity & (capacity - 1)) !== 0) throw new RangeError("capacity: a power of two")
    this.#mask = capacity - 1
    this.#maxAgeMs = options.maxAgeMs ?? 5000
    this.#sequence = new Float64Array(capacity).fill(-1)
    this.#sendTimeMs = new Float64Array(capacity)
    this.#size = new Uint32Array(capacity)
    this.#probe = new Uint8Array(capacity)
    this.#state = new Uint8Array(capacity)
  }

  /**
   * Takes the next transport-wide sequence number (16 bits). Only packets then passed to
   * `sent` are remembered: one that never left is absent, not lost.
   */
  next(): number {
    const sequence = this.#next++
    this.#sequence[sequence & this.#mask] = -1
    return sequence & 0xffff
  }

  /** Remembers a packet that went out with `sequenceNumber` (taken from `next`). */
  sent(sequenceNumber: number, nowMs: number, sizeBytes: number, probe: boolean): void {
    const unwrapped = this.#unwrap(sequenceNumber)
    if (this.#next - unwrapped > this.#mask) return
    const slot = unwrapped & this.#mask
    this.#sequence[slot] = unwrapped
    this.#sendTimeMs[slot] = nowMs
    this.#size[slot] = sizeBytes
    this.#probe[slot] = probe ? 1 : 0
    this.#state[slot] = UNREPORTED
  }

  /**
   * What a feedback says about the packets it covers that this history still knows, in
   * transport-wide sequence order. Arrival times are on one millisecond timeline of the
   * receiver's clock, across feedbacks (its 24-bit reference time is unwrapped). A packet is
   * reported received at most once; one reported lost may later be reported received.
   */
  results(feedback: TransportFeedback, nowMs: number): PacketResult[] {
    const referenceMs = this.#unwrapReference(feedback.referenceTime) * TWCC_REFERENCE_TIME_MS
    const results: PacketResult[] = []
    const oldestUsable = nowMs - this.#maxAgeMs
    let ticks = 0
    const { deltas } = feedback
    for (let i = 0; i < deltas.length; i++) {
      const delta = deltas[i]
      if (delta !== undefined) ticks += delta
      const unwrapped = this.#unwrap(feedback.baseSequenceNumber + i)
      const slot = unwrapped & this.#mask
      const state = this.#state[slot]!
      if (
        this.#sequence[slot] !== unwrapped ||
        this.#sendTimeMs[slot]! < oldestUsable ||
        state === REPORTED_RECEIVED ||
        (state === REPORTED_LOST && delta === undefined)
      ) {
        this.ignored++
        continue
      }
      this.#state[slot] = delta === undefined ? REPORTED_LOST : REPORTED_RECEIVED
      results.push({
        sendTimeMs: this.#sendTimeMs[slot]!,
        sizeBytes: this.#size[slot]!,
        arrivalTimeMs: delta === undefined ? undefined : referenceMs + ticks / TWCC_TICKS_PER_MS,
        probe: this.#probe[slot] === 1
      })
    }
    return results
  }

  /** The unwrapped number at or before the newest one taken whose low 16 bits are `sequenceNumber`. */
  #unwrap(sequenceNumber: number): number {
    const newest = this.#next - 1
    return newest - ((newest - sequenceNumber) & 0xffff)
  }

  #unwrapReference(referenceTime: number): number {
    const previous = this.#referenceTime
    const unwrapped =
      previous === undefined
        ? toSigned24(referenceTime)
        : previous + toSigned24((referenceTime - previous) % REFERENCE_MODULUS)
    this.#referenceTime = unwrapped
    return unwrapped
  }
}
