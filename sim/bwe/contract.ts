import { capacityAt } from "../network/capacity-schedule.ts"
import { fits, type LayerRate, lowest } from "./layer-fit.ts"
import type { SubscriberMeasurement } from "./measurements.ts"

/**
 * The bandwidth-adaptation contract of issue 4, judged from what each subscriber received.
 * Each check returns what broke it, empty when it holds.
 */

export const DOWN_SWITCH_WITHIN_MS = 2000
export const UP_SWITCH_WITHIN_MS = 10_000
/** At most one switch in this long while the link is steady. */
export const MIN_SWITCH_SPACING_MS = 5000
/** The link counts as steady this long after its capacity last changed. */
export const SETTLE_MS = 10_000
/** A freeze this long while the lowest layer fits is starvation. */
export const STARVED_MS = 3000

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** After every capacity drop that makes the current layer not fit: a lower layer (or a pause) within 2 s. */
export const downSwitchesInTime = (m: SubscriberMeasurement): string[] =>
  m.events
    .filter(
      (e) => e.direction === "down" && (e.responseMs === undefined || e.responseMs > DOWN_SWITCH_WITHIN_MS)
    )
    .map(
      (e) =>
        `${m.subscriber}: capacity fell to ${e.capacityKbps} kbit/s at ${s(e.t)}, ` +
        (e.responseMs === undefined ? "never switched down" : `switched down after ${s(e.responseMs)}`)
    )

/** After every recovery that lets a higher layer fit (for at least 10 s): a higher layer within 10 s. */
export const upSwitchesInTime = (m: SubscriberMeasurement): string[] =>
  m.events
    .filter((e) => {
      if (e.direction !== "up" || e.t + UP_SWITCH_WITHIN_MS > m.record.to) return false
      const later = m.record.capacity.filter((p) => p.atMs > e.t && p.atMs <= e.t + UP_SWITCH_WITHIN_MS)
      const held = later.every(
        (p) => p.kbps === undefined || (e.capacityKbps !== undefined && p.kbps >= e.capacityKbps)
      )
      return held && (e.responseMs === undefined || e.responseMs > UP_SWITCH_WITHIN_MS)
    })
    .map(
      (e) =>
        `${m.subscriber}: capacity rose to ${e.capacityKbps ?? "unlimited"} kbit/s at ${s(e.t)}, ` +
        (e.responseMs === undefined ? "never switched up" : `switched up after ${s(e.responseMs)}`)
    )

/** While the link is steady, no two switches less than 5 s apart. */
export const noOscillation = (m: SubscriberMeasurement): string[] => {
  const changes = m.record.capacity.slice(1).map((p) => p.atMs)
  const steady = (t: number) =>
    !changes.some((c) => c <= t && t - c < SETTLE_MS) && t - m.record.from >= SETTLE_MS
  const problems: string[] = []
  const switches = m.switches.filter((x) => steady(x.t))
  for (let i = 1; i < switches.length; i++) {
    const [a, b] = [switches[i - 1]!, switches[i]!]
    if (b.t - a.t < MIN_SWITCH_SPACING_MS && steady(a.t)) {
      problems.push(`${m.subscriber}: switches at ${s(a.t)} and ${s(b.t)} on a steady link`)
    }
  }
  return problems
}

export const audioDelivered = (m: SubscriberMeasurement, atLeast = 0.95): string[] =>
  m.audioDelivery !== undefined && m.audioDelivery >= atLeast
    ? []
    : [
        `${m.subscriber}: ${((m.audioDelivery ?? 0) * 100).toFixed(1)} % of audio delivered, want ${atLeast * 100} %`
      ]

/** Once settled, only the lowest layer or nothing (a paused slot): for a link the lowest layer does not fit. */
export const lowestLayerOrPaused = (
  m: SubscriberMeasurement,
  layers: ReadonlyArray<LayerRate>,
  settleMs = 5000
): string[] => {
  const low = lowest(layers).layer
  const higher = m.record.frames.filter((f) => f.t >= m.record.from + settleMs && f.layer !== low)
  return higher.length === 0
    ? []
    : [
        `${m.subscriber}: ${higher.length} frames above the lowest layer after ${s(settleMs)}, first at ${s(higher[0]!.t)}`
      ]
}

/** No freeze of 3 s or more while the capacity throughout it would carry the lowest layer. */
export const notStarved = (m: SubscriberMeasurement, layers: ReadonlyArray<LayerRate>): string[] => {
  const low = lowest(layers).kbps
  const { record } = m
  const fitsThroughout = (from: number, to: number) => {
    for (let t = from; t <= to; t += 100) if (!fits(low, capacityAt(record.capacity, t))) return false
    return true
  }
  const problems: string[] = []
  let last = record.from
  for (const t of [...record.frames.map((f) => f.t), record.to]) {
    if (t - last >= STARVED_MS && fitsThroughout(last, t)) {
      problems.push(
        `${m.subscriber}: no frame for ${s(t - last)} from ${s(last)} though the lowest layer fits`
      )
    }
    last = t
  }
  return problems
}
