import { seqDiff } from "./sequence-number.ts"

export interface NackGeneratorOptions {
  /** Most missing seqs tracked at once; beyond it the oldest are forgotten. */
  readonly maxTrackedMissing: number
  /** NACKs sent per missing seq before giving up. */
  readonly maxRetries: number
  /** Minimum time between two NACKs for one seq (raised to the RTT when that is larger). */
  readonly retryIntervalMs: number
  /** Give up on a seq this long after its loss was detected. */
  readonly maxAgeMs: number
  /** Cap on seqs returned by one poll. */
  readonly maxNacksPerPoll: number
}

interface Missing {
  readonly detectedAtMs: number
  retries: number
  lastNackAtMs: number
}

// A backwards jump this large is a restarted stream rather than a late packet.
const MIN_RESTART_DISTANCE = 1000

/**
 * Receive-side loss detection for one upstream SSRC. Bounded in memory and in NACK rate: a
 * burst larger than it tracks resets instead of flooding the publisher with requests.
 */
export class NackGenerator {
  readonly #options: NackGeneratorOptions
  // Keys are unwrapped seqs; insertion order is ascending because gaps are only added ahead of #highest.
  readonly #missing = new Map<number, Missing>()
  #highest: number | undefined
  #rttMs = 0
  #totalRequested = 0
  #resets = 0

  constructor(options: NackGeneratorOptions) {
    this.#options = options
  }

  onPacket(sequenceNumber: number, nowMs: number): void {
    const seq = sequenceNumber & 0xffff
    if (this.#highest === undefined) {
      this.#highest = seq
      return
    }
    const distance = seqDiff(seq, this.#highest)
    if (distance === 0) return
    if (distance < 0) {
      if (-distance >= Math.max(MIN_RESTART_DISTANCE, this.#options.maxTrackedMissing)) {
        this.#reset(seq)
        return
      }
      this.#missing.delete(this.#highest + distance)
      return
    }
    const gap = distance - 1
    if (gap > this.#options.maxTrackedMissing) {
      this.#reset(this.#highest + distance)
      return
    }
    for (let u = this.#highest + 1; u < this.#highest + distance; u++) {
      this.#missing.set(u, { detectedAtMs: nowMs, retries: 0, lastNackAtMs: Number.NEGATIVE_INFINITY })
    }
    this.#highest += distance
    this.#forgetOverflow()
  }

  poll(nowMs: number): number[] {
    const { maxRetries, maxAgeMs, maxNacksPerPoll } = this.#options
    const interval = Math.max(this.#options.retryIntervalMs, this.#rttMs)
    const out: number[] = []
    for (const [u, m] of this.#missing) {
      if (nowMs - m.detectedAtMs > maxAgeMs) {
        this.#missing.delete(u)
        continue
      }
      const due = nowMs - m.lastNackAtMs >= interval
      if (!due) continue
      if (m.retries >= maxRetries) {
        // It had its last chance a full interval ago; stop waiting for it.
        this.#missing.delete(u)
        continue
      }
      if (out.length >= maxNacksPerPoll) continue
      m.retries++
      m.lastNackAtMs = nowMs
      out.push(u & 0xffff)
    }
    this.#totalRequested += out.length
    return out
  }

  setRttMs(rttMs: number): void {
    if (Number.isFinite(rttMs) && rttMs >= 0) this.#rttMs = rttMs
  }

  get missingCount(): number {
    return this.#missing.size
  }

  get totalRequested(): number {
    return this.#totalRequested
  }

  /** How many times a large jump made the generator start over. */
  get resets(): number {
    return this.#resets
  }

  #reset(highest: number): void {
    this.#missing.clear()
    this.#highest = highest
    this.#resets++
  }

  #forgetOverflow(): void {
    const excess = this.#missing.size - this.#options.maxTrackedMissing
    if (excess <= 0) return
    let dropped = 0
    for (const u of this.#missing.keys()) {
      if (dropped++ >= excess) break
      this.#missing.delete(u)
    }
  }
}
