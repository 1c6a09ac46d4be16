import { SequenceUnwrapper } from "../../src/media/sequence-number.ts"

/** One feedback message covers at most this many sequence numbers; older ones are skipped after an outage. */
const MAX_COVERED = 1024

export interface TransportFeedbackMessage {
  readonly baseSeq: number
  readonly arrivals: ReadonlyArray<number | undefined>
}

/**
 * The receiver's side of transport-wide congestion control (as a browser's RTP stack does
 * it): it notes when each transport sequence number arrived, by its own clock, and every
 * feedback interval reports the range from the first number not yet reported to the
 * highest received. Each number is reported once; one that arrives after its range was
 * reported stays reported as lost, and a lost feedback message loses its range.
 */
export class ArrivalRecorder {
  private readonly unwrapper = new SequenceUnwrapper()
  private readonly arrivals = new Map<number, number>()
  private nextToReport: number | undefined
  private highest: number | undefined

  onArrival(transportSeq: number, localTimeMs: number): void {
    const u = this.unwrapper.unwrap(transportSeq)
    if (this.nextToReport !== undefined && u < this.nextToReport) return
    this.nextToReport ??= u
    if (!this.arrivals.has(u)) this.arrivals.set(u, localTimeMs)
    if (this.highest === undefined || u > this.highest) this.highest = u
  }

  /** The feedback due now, or undefined when nothing arrived since the last one. */
  take(): TransportFeedbackMessage | undefined {
    const highest = this.highest
    let base = this.nextToReport
    if (highest === undefined || base === undefined || highest < base) return undefined
    if (highest - base + 1 > MAX_COVERED) base = highest - MAX_COVERED + 1
    const arrivals: Array<number | undefined> = []
    for (let u = base; u <= highest; u++) arrivals.push(this.arrivals.get(u))
    this.arrivals.clear()
    this.nextToReport = highest + 1
    return { baseSeq: base & 0xffff, arrivals }
  }
}
