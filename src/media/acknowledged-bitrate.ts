/**
 * The rate at which the subscriber actually received: bytes of acknowledged packets over the
 * last `WINDOW_MS` of their arrival times (the receiver's clock, so a standing queue does not
 * distort it). Bounded by count and time. Arrival times are in the receiver's epoch: a jump
 * backwards empties the window, a jump forwards ages everything out of it.
 */

const WINDOW_MS = 500
/** Below this span of arrivals the rate is too noisy to report. */
const MIN_SPAN_MS = 100
const CAPACITY = 2048

export class AcknowledgedBitrate {
  private readonly arrivals = new Float64Array(CAPACITY)
  private readonly sizes = new Float64Array(CAPACITY)
  private head = 0
  private count = 0
  private bytesInWindow = 0
  private newestMs = Number.NEGATIVE_INFINITY

  onReceived(arrivalTimeMs: number, sizeBytes: number): void {
    if (arrivalTimeMs < this.newestMs - WINDOW_MS) this.clear()
    if (this.count === CAPACITY) this.dropOldest()
    const index = (this.head + this.count) % CAPACITY
    this.arrivals[index] = arrivalTimeMs
    this.sizes[index] = sizeBytes
    this.count++
    this.bytesInWindow += sizeBytes
    this.newestMs = Math.max(this.newestMs, arrivalTimeMs)
    while (this.count > 0 && this.arrivals[this.head]! < this.newestMs - WINDOW_MS) this.dropOldest()
  }

  /** Bits per second over the window, undefined until it spans enough time. */
  bitrateBps(): number | undefined {
    if (this.count < 2) return undefined
    const oldestMs = this.arrivals[this.head]!
    const spanMs = this.newestMs - oldestMs
    if (spanMs < MIN_SPAN_MS) return undefined
    // The oldest packet's bytes arrived before the span began.
    return ((this.bytesInWindow - this.sizes[this.head]!) * 8000) / spanMs
  }

  private dropOldest(): void {
    this.bytesInWindow -= this.sizes[this.head]!
    this.head = (this.head + 1) % CAPACITY
    this.count--
  }

  private clear(): void {
    this.head = 0
    this.count = 0
    this.bytesInWindow = 0
    this.newestMs = Number.NEGATIVE_INFINITY
  }
}
