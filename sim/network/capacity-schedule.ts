/**
 * How a link's bottleneck rate changes over time, relative to when the schedule starts:
 * steps, and ramps that slide the rate in small steps (as a shared or mobile link drifts).
 */
export type CapacityChange =
  | { readonly kind: "step"; readonly atMs: number; readonly kbps: number | undefined }
  | {
      readonly kind: "ramp"
      readonly fromMs: number
      readonly toMs: number
      readonly fromKbps: number
      readonly toKbps: number
      /** How often the rate moves along the ramp. */
      readonly everyMs: number
    }

export const stepTo = (atMs: number, kbps: number | undefined): CapacityChange => ({
  kind: "step",
  atMs,
  kbps
})

export const ramp = (
  fromMs: number,
  toMs: number,
  fromKbps: number,
  toKbps: number,
  everyMs = 250
): CapacityChange => ({
  kind: "ramp",
  fromMs,
  toMs,
  fromKbps,
  toKbps,
  everyMs
})

export interface CapacityPoint {
  readonly atMs: number
  readonly kbps: number | undefined
}

/** The schedule as the rate changes it makes, in time order (ramps become steps of whole kbit/s). */
export const capacityPoints = (changes: ReadonlyArray<CapacityChange>): CapacityPoint[] => {
  const points: CapacityPoint[] = []
  for (const change of changes) {
    if (change.kind === "step") {
      points.push({ atMs: change.atMs, kbps: change.kbps })
      continue
    }
    const span = Math.max(1, change.toMs - change.fromMs)
    const every = Math.max(1, change.everyMs)
    for (let t = change.fromMs; t < change.toMs; t += every) {
      points.push({
        atMs: t,
        kbps: Math.round(change.fromKbps + ((change.toKbps - change.fromKbps) * (t - change.fromMs)) / span)
      })
    }
    points.push({ atMs: change.toMs, kbps: change.toKbps })
  }
  return points.sort((a, b) => a.atMs - b.atMs)
}

/** The rate in force at `atMs` according to a log of changes in time order (undefined: unlimited). */
export const capacityAt = (log: ReadonlyArray<CapacityPoint>, atMs: number): number | undefined => {
  let kbps: number | undefined
  for (const point of log) {
    if (point.atMs > atMs) break
    kbps = point.kbps
  }
  return kbps
}
