import { describe, expect, it } from "vitest"
import { REALISTIC_LAYERS } from "../clients/media-spec.ts"
import {
  audioDelivered,
  downSwitchesInTime,
  noOscillation,
  notStarved,
  upSwitchesInTime
} from "./contract.ts"
import type { LayerRate } from "./layer-fit.ts"
import { measureSubscriber } from "./measurements.ts"
import type { FrameEvent, SubscriberRecord } from "./subscriber-meter.ts"

const layers: LayerRate[] = REALISTIC_LAYERS.map((l, layer) => ({ layer, rid: l.rid, kbps: l.bitrateKbps }))
const [F, H, Q] = [0, 1, 2]

/** 30 fps of `layer` over [from, to), the first frame a keyframe. */
const frames = (layer: number, from: number, to: number): FrameEvent[] =>
  Array.from({ length: Math.floor((to - from) / 33) }, (_, i) => ({
    t: from + i * 33,
    layer,
    keyframe: i === 0
  }))

/** `packetsThroughout`: video packets kept arriving even while nothing decoded (a congested, not paused, slot). */
const record = (
  parts: FrameEvent[],
  capacity: SubscriberRecord["capacity"],
  packetsThroughout = false,
  to = 40_000
): SubscriberRecord => ({
  subscriber: "bob",
  from: 0,
  to,
  frames: parts,
  videoBuckets: new Set(
    packetsThroughout
      ? Array.from({ length: to / 100 }, (_, i) => i)
      : parts.map((f) => Math.floor(f.t / 100))
  ),
  mediaBytes: Array.from({ length: to / 1000 }, () => 100_000),
  paddingBytes: 0,
  audioSent: 1000,
  audioDelivered: 990,
  plisSent: 0,
  keyframeRequestsAtPublisher: 0,
  capacity
})

const steps = [
  { atMs: 0, kbps: 2500 },
  { atMs: 10_000, kbps: 400 },
  { atMs: 20_000, kbps: 2500 }
]

describe("BWE measurements and contract", () => {
  it("an adaptive subscriber: switches found, in time, no starvation, utilization from the capacity", () => {
    const m = measureSubscriber(
      record([...frames(F, 0, 11_500), ...frames(Q, 11_500, 24_000), ...frames(F, 24_000, 40_000)], steps),
      layers
    )
    expect(m.switches.map((s) => [s.from, s.to])).toEqual([
      [F, Q],
      [Q, F]
    ])
    expect(m.events.map((e) => [e.direction, e.responseMs])).toEqual([
      ["down", 1500],
      ["up", 4000]
    ])
    expect(downSwitchesInTime(m)).toEqual([])
    expect(upSwitchesInTime(m)).toEqual([])
    expect(notStarved(m, layers)).toEqual([])
    expect(audioDelivered(m)).toEqual([])
    // 800 kbit/s delivered every second: a third of 2.5 Mbit/s, twice 400 kbit/s.
    expect(m.utilizationByWindow[0]).toBeCloseTo(0.32, 5)
    expect(m.utilizationByWindow[15]).toBeCloseTo(2, 5)
    expect(m.layerShare.get(Q)).toBeCloseTo(12_500 / 40_000, 2)
  })

  it("a subscriber that keeps the top layer through the drop: never switched, starved", () => {
    const m = measureSubscriber(
      record([...frames(F, 0, 10_500), ...frames(F, 21_000, 40_000)], steps, true),
      layers
    )
    expect(m.events[0]).toMatchObject({ direction: "down", responseMs: undefined })
    expect(downSwitchesInTime(m)).toHaveLength(1)
    expect(notStarved(m, layers)).toHaveLength(1)
    expect(m.longestFreezeMs).toBeGreaterThanOrEqual(10_000)
  })

  it("a late switch, a pause, and flapping on a steady link", () => {
    const late = measureSubscriber(
      record([...frames(F, 0, 13_000), ...frames(Q, 13_000, 40_000)], steps),
      layers
    )
    expect(downSwitchesInTime(late)[0]).toMatch(/after 3.0 s/)
    // Video stops 500 ms after the drop: a pause counts as a down-switch.
    const paused = measureSubscriber(
      record([...frames(F, 0, 10_500), ...frames(F, 20_500, 40_000)], steps),
      layers
    )
    expect(paused.events[0]?.responseMs).toBeLessThanOrEqual(600)
    const flapping = measureSubscriber(
      record(
        Array.from({ length: 20 }, (_, i) => frames(i % 2 === 0 ? F : H, i * 2000, (i + 1) * 2000)).flat(),
        [{ atMs: 0, kbps: 3000 }]
      ),
      layers
    )
    expect(noOscillation(flapping).length).toBeGreaterThan(0)
    expect(
      noOscillation(measureSubscriber(record(frames(F, 0, 40_000), [{ atMs: 0, kbps: 3000 }]), layers))
    ).toEqual([])
  })
})
