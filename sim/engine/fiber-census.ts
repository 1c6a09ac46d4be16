import type { Metric } from "effect"

/** Counts the fibers alive in a simulation: every sleeping timer and queue consumer is one. */
export class FiberCensus implements Metric.FiberRuntimeMetricsService {
  alive = 0
  started = 0

  readonly recordFiberStart = (): void => {
    this.alive++
    this.started++
  }

  readonly recordFiberEnd = (): void => {
    this.alive--
  }
}
