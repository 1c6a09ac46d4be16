import { SequenceUnwrapper, seqDiff, tsAdd, tsDiff } from "./sequence-number.ts"

export interface RewriterOptions {
  readonly clockRate: number
  readonly initialSequenceNumber: number
  readonly initialTimestamp: number
}

export interface RewrittenHeader {
  readonly sequenceNumber: number
  readonly timestamp: number
}

// Beyond this many skips, the oldest is folded into the offset and older packets are refused,
// keeping memory bounded when a source sends padding for a long time.
const MAX_REMEMBERED_SKIPS = 1024

// A jump of 2^31 or more would read as going backwards to the subscriber.
const MAX_TIMESTAMP_JUMP = 0x3fffffff

const clampTicks = (ticks: number): number =>
  Number.isFinite(ticks) ? Math.min(MAX_TIMESTAMP_JUMP, Math.max(1, ticks)) : 1

/**
 * Rewrites one subscriber slot's sequence numbers and timestamps so the subscriber sees a single
 * continuous stream even as the slot switches between sources.
 */
export class RtpRewriter {
  readonly #clockRate: number
  readonly #initialSequenceNumber: number
  readonly #initialTimestamp: number

  // Highest output sequence number / timestamp sent so far, and the time of the last output.
  #lastSeq: number | undefined
  #lastTs: number | undefined
  #lastNowMs = Number.NEGATIVE_INFINITY

  #rebasePending = true
  // Input sequence numbers of the current source, unwrapped so comparisons survive wraparound.
  #unwrapper = new SequenceUnwrapper()
  // Unwrapped input seq below which packets are refused (the re-base point, later raised by pruning).
  #floor = 0
  // Output = unwrapped input + #seqOffset - (number of skipped inputs below it).
  #seqOffset = 0
  #tsOffset = 0
  // Unwrapped input seqs that were skipped, ascending.
  #skips: number[] = []

  constructor(options: RewriterOptions) {
    this.#clockRate = options.clockRate
    this.#initialSequenceNumber = options.initialSequenceNumber & 0xffff
    this.#initialTimestamp = options.initialTimestamp >>> 0
  }

  switchSource(): void {
    this.#rebasePending = true
  }

  rewrite(sequenceNumber: number, timestamp: number, nowMs: number): RewrittenHeader | undefined {
    if (this.#rebasePending) this.#rebase(sequenceNumber, timestamp, nowMs)
    const input = this.#unwrapper.unwrap(sequenceNumber)
    if (input < this.#floor) return undefined
    const skipsBelow = this.#countSkipsBelow(input)
    if (skipsBelow < 0) return undefined // this very seq was skipped
    const outSeq = (input + this.#seqOffset - skipsBelow) & 0xffff
    const outTs = tsAdd(timestamp, this.#tsOffset)
    if (this.#lastSeq === undefined || seqDiff(outSeq, this.#lastSeq) > 0) this.#lastSeq = outSeq
    if (this.#lastTs === undefined || tsDiff(outTs, this.#lastTs) > 0) this.#lastTs = outTs
    if (nowMs > this.#lastNowMs) this.#lastNowMs = nowMs
    return { sequenceNumber: outSeq, timestamp: outTs }
  }

  skip(sequenceNumber: number): void {
    const highest = this.#unwrapper.highest
    if (this.#rebasePending || highest === undefined) return
    const distance = seqDiff(sequenceNumber, highest)
    if (distance <= 0) return
    const input = this.#unwrapper.unwrap(sequenceNumber)
    // After a loss the dropped packet stays a gap, but it still counts as seen, so the next seq is expected.
    if (distance !== 1) return
    this.#skips.push(input)
    if (this.#skips.length > MAX_REMEMBERED_SKIPS) {
      const oldest = this.#skips.shift()!
      this.#seqOffset -= 1
      if (oldest + 1 > this.#floor) this.#floor = oldest + 1
    }
  }

  get lastSequenceNumber(): number | undefined {
    return this.#lastSeq
  }

  get lastTimestamp(): number | undefined {
    return this.#lastTs
  }

  #rebase(sequenceNumber: number, timestamp: number, nowMs: number): void {
    let outSeq: number
    let outTs: number
    if (this.#lastSeq === undefined || this.#lastTs === undefined) {
      outSeq = this.#initialSequenceNumber
      outTs = this.#initialTimestamp
    } else {
      outSeq = (this.#lastSeq + 1) & 0xffff
      // Advance by the wall-clock gap so the subscriber's jitter buffer sees realistic timing.
      const elapsedTicks = Math.round(((nowMs - this.#lastNowMs) * this.#clockRate) / 1000)
      outTs = tsAdd(this.#lastTs, clampTicks(elapsedTicks))
    }
    this.#unwrapper = new SequenceUnwrapper()
    const input = this.#unwrapper.unwrap(sequenceNumber)
    this.#floor = input
    this.#seqOffset = outSeq - input
    this.#tsOffset = tsDiff(outTs, timestamp >>> 0)
    this.#skips = []
    this.#rebasePending = false
  }

  /** Number of skips strictly below input, or -1 if input itself was skipped. */
  #countSkipsBelow(input: number): number {
    let count = 0
    for (let i = this.#skips.length - 1; i >= 0; i--) {
      const s = this.#skips[i]!
      if (s === input) return -1
      if (s < input) {
        count = i + 1
        break
      }
    }
    return count
  }
}
