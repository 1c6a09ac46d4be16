import { type CapacityPoint, capacityAt } from "../network/capacity-schedule.ts"
import { bestFitting, fits, type LayerRate } from "./layer-fit.ts"
import { BUCKET_MS, type FrameEvent, type SubscriberRecord, WINDOW_MS } from "./subscriber-meter.ts"

/** A slot that gets no video packet for this long after a capacity drop counts as paused. */
export const PAUSE_MS = 2000
const SAMPLE_MS = 50

export interface LayerSwitch {
  readonly t: number
  readonly from: number
  readonly to: number
  /** The first frame decoded from the new layer was a keyframe. */
  readonly keyframe: boolean
}

/** A time the publisher stopped sending one layer (its encoder dropped it), until it resumed. */
export interface LayerOutage {
  readonly layer: number
  readonly from: number
  readonly to: number
}

/** A change (of capacity, or of the layers on offer) that calls for a switch, and how long the subscriber took to see one. */
export interface AdaptationEvent {
  readonly direction: "down" | "up"
  readonly cause: "capacity" | "layer stopped" | "layer resumed"
  readonly t: number
  readonly capacityKbps: number | undefined
  /** The layer decoded when the capacity changed (undefined: none, e.g. paused). */
  readonly layer: number | undefined
  /** Until the first frame of a lower (down) or higher (up) layer, or a pause; undefined: never. */
  readonly responseMs: number | undefined
}

export interface SubscriberMeasurement {
  readonly subscriber: string
  readonly record: SubscriberRecord
  /** Delivered media bit/s over link capacity: over the whole measurement, and per window (undefined: no cap). */
  readonly utilization: number | undefined
  readonly utilizationByWindow: ReadonlyArray<number | undefined>
  readonly mediaKbps: number
  readonly switches: ReadonlyArray<LayerSwitch>
  /** Longest time without a newly decoded frame, counting from the start and to the end of the measurement. */
  readonly longestFreezeMs: number
  /** Share of the measured time spent showing each layer (a frame shows for at most 500 ms). */
  readonly layerShare: ReadonlyMap<number, number>
  readonly audioDelivery: number | undefined
  readonly events: ReadonlyArray<AdaptationEvent>
}

const kbpsOf = (layers: ReadonlyArray<LayerRate>, layer: number | undefined): number =>
  layer === undefined ? 0 : (layers.find((l) => l.layer === layer)?.kbps ?? 0)

/** The layer of the last frame decoded at or before `t`. */
export const layerAt = (frames: ReadonlyArray<FrameEvent>, t: number): number | undefined => {
  let layer: number | undefined
  for (const frame of frames) {
    if (frame.t > t) break
    layer = frame.layer
  }
  return layer
}

/** The mean capacity over [from, to), undefined when the link was uncapped at any point of it. */
export const meanCapacity = (
  log: ReadonlyArray<CapacityPoint>,
  from: number,
  to: number
): number | undefined => {
  let sum = 0
  let n = 0
  for (let t = from; t < to; t += SAMPLE_MS) {
    const kbps = capacityAt(log, t)
    if (kbps === undefined) return undefined
    sum += kbps
    n++
  }
  return n === 0 ? undefined : sum / n
}

const switchesOf = (frames: ReadonlyArray<FrameEvent>): LayerSwitch[] => {
  const switches: LayerSwitch[] = []
  for (let i = 1; i < frames.length; i++) {
    const [before, after] = [frames[i - 1]!, frames[i]!]
    if (before.layer !== after.layer) {
      switches.push({ t: after.t, from: before.layer, to: after.layer, keyframe: after.keyframe })
    }
  }
  return switches
}

const longestFreeze = (record: SubscriberRecord): number => {
  let last = record.from
  let longest = 0
  for (const frame of record.frames) {
    if (frame.t < record.from) continue
    longest = Math.max(longest, frame.t - last)
    last = frame.t
  }
  return Math.max(longest, record.to - last)
}

const layerShares = (record: SubscriberRecord): Map<number, number> => {
  const shares = new Map<number, number>()
  const span = record.to - record.from
  const frames = record.frames.filter((f) => f.t >= record.from)
  for (let i = 0; i < frames.length; i++) {
    const end = frames[i + 1]?.t ?? record.to
    const shown = Math.min(500, end - frames[i]!.t)
    shares.set(frames[i]!.layer, (shares.get(frames[i]!.layer) ?? 0) + shown / span)
  }
  return shares
}

/** When the slot stopped getting video for good (at least PAUSE_MS before `limit`), if it did after `t`. */
const pausedAt = (record: SubscriberRecord, t: number, limit: number): number | undefined => {
  let lastBucket: number | undefined
  for (const bucket of record.videoBuckets) {
    const at = record.from + bucket * BUCKET_MS
    if (at < limit && (lastBucket === undefined || bucket > lastBucket)) lastBucket = bucket
  }
  const end = lastBucket === undefined ? record.from : record.from + (lastBucket + 1) * BUCKET_MS
  return limit - end >= PAUSE_MS ? Math.max(t, end) : undefined
}

const adaptationEvents = (record: SubscriberRecord, layers: ReadonlyArray<LayerRate>): AdaptationEvent[] => {
  const events: AdaptationEvent[] = []
  const log = record.capacity
  const frames = record.frames
  for (let i = 1; i < log.length; i++) {
    const { atMs: t, kbps } = log[i]!
    const old = log[i - 1]!.kbps
    if (t < record.from || t >= record.to) continue
    const layer = layerAt(frames, t)
    const current = kbpsOf(layers, layer)
    if (layer !== undefined && fits(current, old) && !fits(current, kbps)) {
      // Judged until the current layer fits again (then no switch was needed) or the end.
      const recovered = log.slice(i + 1).find((p) => fits(current, p.kbps))?.atMs
      const limit = recovered ?? record.to
      const lower = frames.find((f) => f.t > t && f.t < limit && kbpsOf(layers, f.layer) < current)?.t
      const paused = pausedAt(record, t, limit)
      const response = [lower, paused].filter((x): x is number => x !== undefined)
      const responseMs = response.length > 0 ? Math.min(...response) - t : undefined
      events.push({ direction: "down", cause: "capacity", t, capacityKbps: kbps, layer, responseMs })
      continue
    }
    const bestNew = kbpsOf(layers, bestFitting(layers, kbps)?.layer)
    const bestOld = kbpsOf(layers, bestFitting(layers, old)?.layer)
    if (bestNew > bestOld && bestNew > current) {
      const higher = frames.find((f) => f.t > t && kbpsOf(layers, f.layer) > current)?.t
      events.push({
        direction: "up",
        cause: "capacity",
        t,
        capacityKbps: kbps,
        layer,
        responseMs: higher === undefined ? undefined : higher - t
      })
    }
  }
  return events
}

/** A stopped layer the subscriber was shown must give way to another; a resumed one that fits must come back. */
const outageEvents = (
  record: SubscriberRecord,
  layers: ReadonlyArray<LayerRate>,
  outages: ReadonlyArray<LayerOutage>
): AdaptationEvent[] => {
  const events: AdaptationEvent[] = []
  for (const outage of outages) {
    const capacityKbps = capacityAt(record.capacity, outage.from)
    if (layerAt(record.frames, outage.from) === outage.layer) {
      const other = record.frames.find((f) => f.t > outage.from && f.layer !== outage.layer)?.t
      events.push({
        direction: "down",
        cause: "layer stopped",
        t: outage.from,
        capacityKbps,
        layer: outage.layer,
        responseMs: other === undefined ? undefined : other - outage.from
      })
    }
    const resumedCapacity = capacityAt(record.capacity, outage.to)
    if (outage.to < record.to && fits(kbpsOf(layers, outage.layer), resumedCapacity)) {
      const back = record.frames.find((f) => f.t > outage.to && f.layer === outage.layer)?.t
      events.push({
        direction: "up",
        cause: "layer resumed",
        t: outage.to,
        capacityKbps: resumedCapacity,
        layer: layerAt(record.frames, outage.to),
        responseMs: back === undefined ? undefined : back - outage.to
      })
    }
  }
  return events
}

export const measureSubscriber = (
  record: SubscriberRecord,
  layers: ReadonlyArray<LayerRate>,
  outages: ReadonlyArray<LayerOutage> = []
): SubscriberMeasurement => {
  const utilizationByWindow = record.mediaBytes.map((bytes, i) => {
    const capacity = meanCapacity(
      record.capacity,
      record.from + i * WINDOW_MS,
      record.from + (i + 1) * WINDOW_MS
    )
    return capacity === undefined ? undefined : (bytes * 8) / (capacity * WINDOW_MS)
  })
  const totalBits = record.mediaBytes.reduce((n, b) => n + b * 8, 0)
  const span = record.mediaBytes.length * WINDOW_MS
  const capacity = meanCapacity(record.capacity, record.from, record.from + span)
  return {
    subscriber: record.subscriber,
    record,
    utilization: capacity === undefined || span === 0 ? undefined : totalBits / (capacity * span),
    utilizationByWindow,
    mediaKbps: span === 0 ? 0 : totalBits / span,
    switches: switchesOf(record.frames.filter((f) => f.t >= record.from)),
    longestFreezeMs: longestFreeze(record),
    layerShare: layerShares(record),
    audioDelivery: record.audioSent === 0 ? undefined : record.audioDelivered / record.audioSent,
    events: [...adaptationEvents(record, layers), ...outageEvents(record, layers, outages)].sort(
      (a, b) => a.t - b.t
    )
  }
}
