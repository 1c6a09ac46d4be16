/**
 * What the link carried when it last overflowed: a smoothed average of the acknowledged
 * throughput at each overuse, with its spread. Near that capacity the rate control creeps up
 * additively instead of multiplying; once the rate is well past it the link has changed and
 * the estimate is forgotten. Units are kbit/s inside, as the variance bounds are tuned for them.
 */

const SMOOTHING = 0.05
const MIN_VARIANCE_KBPS = 0.4
const MAX_VARIANCE_KBPS = 2.5

export class LinkCapacityEstimate {
  private estimateKbps: number | undefined
  private varianceKbps = MIN_VARIANCE_KBPS

  get known(): boolean {
    return this.estimateKbps !== undefined
  }

  get bps(): number | undefined {
    return this.estimateKbps === undefined ? undefined : this.estimateKbps * 1000
  }

  upperBoundBps(): number {
    if (this.estimateKbps === undefined) return Number.POSITIVE_INFINITY
    return (this.estimateKbps + 3 * this.deviationKbps(this.estimateKbps)) * 1000
  }

  lowerBoundBps(): number {
    if (this.estimateKbps === undefined) return 0
    return Math.max(0, this.estimateKbps - 3 * this.deviationKbps(this.estimateKbps)) * 1000
  }

  onOveruse(throughputBps: number): void {
    const sampleKbps = throughputBps / 1000
    const estimate =
      this.estimateKbps === undefined
        ? sampleKbps
        : (1 - SMOOTHING) * this.estimateKbps + SMOOTHING * sampleKbps
    const error = estimate - sampleKbps
    const variance = (1 - SMOOTHING) * this.varianceKbps + (SMOOTHING * error * error) / Math.max(estimate, 1)
    this.estimateKbps = estimate
    this.varianceKbps = Math.min(Math.max(variance, MIN_VARIANCE_KBPS), MAX_VARIANCE_KBPS)
  }

  reset(): void {
    this.estimateKbps = undefined
    this.varianceKbps = MIN_VARIANCE_KBPS
  }

  private deviationKbps(estimateKbps: number): number {
    return Math.sqrt(this.varianceKbps * estimateKbps)
  }
}
