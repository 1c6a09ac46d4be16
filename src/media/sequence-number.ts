// Wrap-aware arithmetic for 16-bit RTP sequence numbers and 32-bit RTP timestamps.

const SEQ_MODULUS = 0x10000

/** Signed 16-bit distance a - b, in [-32768, 32767]. */
export const seqDiff = (a: number, b: number): number => ((a - b) << 16) >> 16

/** (a + n) mod 65536; n may be negative. */
export const seqAdd = (a: number, n: number): number => (a + n) & 0xffff

/** (a + n) mod 2^32; n may be negative. Result in [0, 2^32). */
export const tsAdd = (a: number, n: number): number => (a + n) >>> 0

/** Signed 32-bit distance a - b, in [-2^31, 2^31). */
export const tsDiff = (a: number, b: number): number => (a - b) | 0

/** True when a comes strictly after b in 16-bit sequence space. */
export const seqNewer = (a: number, b: number): boolean => seqDiff(a, b) > 0

/** A backwards step at least this large is a restarted stream rather than a late packet. */
export const RESTART_DISTANCE = 1000

/** True when `seq` is a straggler: a little behind `newest`, not a restart of the stream. */
export const seqLate = (seq: number, newest: number | undefined): boolean => {
  if (newest === undefined) return false
  const behind = seqDiff(newest, seq)
  return behind > 0 && behind < RESTART_DISTANCE
}

/**
 * Extends 16-bit sequence numbers to plain integers that keep increasing across wraparound.
 * Each input is placed within ±32767 of the highest value seen so far, so reordering is handled.
 */
export class SequenceUnwrapper {
  #highest: number | undefined

  unwrap(seq: number): number {
    const s = seq & 0xffff
    if (this.#highest === undefined) {
      // Start one cycle up so packets reordered before the first one stay positive.
      this.#highest = SEQ_MODULUS + s
      return this.#highest
    }
    const value = this.#highest + seqDiff(s, this.#highest)
    if (value > this.#highest) this.#highest = value
    return value
  }

  /** Highest unwrapped value seen so far, or undefined before the first packet. */
  get highest(): number | undefined {
    return this.#highest
  }

  reset(): void {
    this.#highest = undefined
  }
}
