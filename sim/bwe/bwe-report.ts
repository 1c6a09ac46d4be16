import type { LayerRate } from "./layer-fit.ts"
import type { SubscriberMeasurement } from "./measurements.ts"

/** What a bandwidth-adaptation scenario measured: the publisher's layers and each watched subscriber. */
export interface BweReport {
  readonly publisher: string
  readonly layers: ReadonlyArray<LayerRate>
  readonly subscribers: ReadonlyArray<SubscriberMeasurement>
}
