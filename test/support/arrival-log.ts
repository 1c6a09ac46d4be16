import type { LoopStalls } from "./loop-stalls.ts"

/**
 * When media arrived at a client (a decoded frame, an RTP packet), on the client's own clock
 * (`performance.now()`, taken in the receive callback), and the longest silence in a window.
 */
export class ArrivalLog {
  private readonly times: number[] = []

  note(at = performance.now()): void {
    this.times.push(at)
  }

  get count(): number {
    return this.times.length
  }

  /** Arrivals at or after `from`. */
  countSince(from: number): number {
    let n = 0
    for (let i = this.times.length - 1; i >= 0 && this.times[i]! >= from; i--) n++
    return n
  }

  /** The first arrival at or after `from`, if any. */
  firstSince(from: number): number | undefined {
    let first: number | undefined
    for (let i = this.times.length - 1; i >= 0 && this.times[i]! >= from; i--) first = this.times[i]
    return first
  }

  /**
   * The longest interval in [from, to] without an arrival, the window's edges included: a
   * stream that stopped at `from` and never came back has a gap of `to - from`. Each interval
   * leaves out the time `stalls` says this process's event loop was frozen in it.
   */
  largestGap(from: number, to: number, stalls?: LoopStalls): number {
    const length = (a: number, b: number) => b - a - (stalls?.within(a, b) ?? 0)
    let previous = from
    let largest = 0
    for (const at of this.times) {
      if (at < from) continue
      if (at > to) break
      largest = Math.max(largest, length(previous, at))
      previous = at
    }
    return Math.max(largest, length(previous, to))
  }
}

/** Gaps (ms) as "n, median, max [each]" for the test log. */
export const summarize = (gapsMs: ReadonlyArray<number>): string => {
  const sorted = [...gapsMs].sort((a, b) => a - b)
  const at = (q: number) =>
    Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0)
  return `n=${sorted.length} median=${at(0.5)}ms max=${Math.round(sorted.at(-1) ?? 0)}ms [${gapsMs.map((g) => Math.round(g)).join(", ")}]`
}
