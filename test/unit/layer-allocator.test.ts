import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  type AllocationInput,
  LayerAllocator,
  RESERVE,
  RESUME_HOLD_MS,
  type SlotAllocation,
  type SlotDemand,
  type SlotPreferences,
  SWITCH_HOLD_MS
} from "../../src/media/layer-allocator.ts"
import type { LayerInfo } from "../../src/media/layer-monitor.ts"

const layer = (ssrc: number, height: number | undefined, bitrateBps: number, flowing = true): LayerInfo => ({
  ssrc,
  rid: undefined,
  width: height === undefined ? undefined : Math.round((height * 16) / 9),
  height,
  fps: 30,
  bitrateBps,
  flowing
})

/** q/h/f of one track: 180p 150k, 360p 500k, 720p 1.5M. */
const simulcast = (base: number): LayerInfo[] => [
  layer(base + 1, 180, 150_000),
  layer(base + 2, 360, 500_000),
  layer(base + 3, 720, 1_500_000)
]

const slot = (
  key: string,
  layers: LayerInfo[],
  preferences: SlotPreferences = {},
  currentSsrc?: number
): SlotDemand => ({
  key,
  layers,
  currentSsrc,
  preferences
})

const heightOf = (allocation: SlotAllocation, layers: LayerInfo[]): number | string =>
  allocation._tag === "Paused" ? allocation.reason : layers.find((l) => l.ssrc === allocation.ssrc)!.height!

/** Room for video of exactly `videoBps` once the reserve is taken. */
const budgetFor = (videoBps: number, audioBps = 0) => (videoBps + audioBps) / (1 - RESERVE)

describe("LayerAllocator choices", () => {
  it("without an estimate gives each slot its best layer within its height limits", () => {
    const allocator = new LayerAllocator()
    const a = simulcast(0)
    const { slots } = allocator.allocate({
      nowMs: 0,
      budgetBps: undefined,
      audioBps: 0,
      slots: [
        slot("a", a),
        slot("b", a, { maxHeight: 360 }),
        slot("c", a, { maxHeight: 400 }),
        slot("d", a, { maxHeight: 100 }),
        slot("e", a, { maxHeight: 2160 })
      ]
    })
    expect(slots.map((s) => heightOf(s, a))).toEqual([720, 360, 720, 180, 720])
  })

  it("pauses a slot the client paused, and one whose track has no flowing layer", () => {
    const allocator = new LayerAllocator()
    const stopped = [layer(1, 180, 100_000, false)]
    const { slots } = allocator.allocate({
      nowMs: 0,
      budgetBps: 10_000_000,
      audioBps: 0,
      slots: [slot("a", simulcast(0), { paused: true }), slot("b", stopped), slot("c", [])]
    })
    expect(slots).toEqual([
      { _tag: "Paused", key: "a", reason: "client" },
      { _tag: "Paused", key: "b", reason: "no-layers" },
      { _tag: "Paused", key: "c", reason: "no-layers" }
    ])
  })

  it("splits a budget evenly between equal slots instead of starving one", () => {
    const allocator = new LayerAllocator()
    const a = simulcast(0)
    const b = simulcast(10)
    // room for 360p + 360p (1.0M) with headroom, but not 720p + 180p (1.65M)
    const { slots } = allocator.allocate({
      nowMs: 0,
      budgetBps: budgetFor(1_300_000),
      audioBps: 0,
      slots: [slot("a", a), slot("b", b)]
    })
    expect([heightOf(slots[0]!, a), heightOf(slots[1]!, b)]).toEqual([360, 360])
  })

  it("serves the higher priority first", () => {
    const allocator = new LayerAllocator()
    const a = simulcast(0)
    const b = simulcast(10)
    const { slots } = allocator.allocate({
      nowMs: 0,
      budgetBps: budgetFor(2_200_000),
      audioBps: 0,
      slots: [slot("a", a), slot("b", b, { priority: 1 })]
    })
    expect([heightOf(slots[0]!, a), heightOf(slots[1]!, b)]).toEqual([180, 720])
  })

  it("gives a minimum height first, and pauses for bandwidth when even the minimum does not fit", () => {
    const allocator = new LayerAllocator()
    const a = simulcast(0)
    const b = simulcast(10)
    const { slots } = allocator.allocate({
      nowMs: 0,
      budgetBps: budgetFor(600_000),
      audioBps: 0,
      slots: [slot("a", a, { minHeight: 300 }), slot("b", b, { minHeight: 720 })]
    })
    expect([heightOf(slots[0]!, a), heightOf(slots[1]!, b)]).toEqual([360, "bandwidth"])
  })

  it("reserves the audio first: no video when audio takes what is left", () => {
    const allocator = new LayerAllocator()
    const a = simulcast(0)
    const fits = allocator.allocate({
      nowMs: 0,
      budgetBps: budgetFor(150_000, 64_000),
      audioBps: 64_000,
      slots: [slot("a", a)]
    })
    expect(heightOf(fits.slots[0]!, a)).toBe(180)
    expect(fits.availableBps).toBeCloseTo(150_000, 0)
    const starved = new LayerAllocator().allocate({
      nowMs: 0,
      budgetBps: budgetFor(149_000, 64_000),
      audioBps: 64_000,
      slots: [slot("a", a)]
    })
    expect(heightOf(starved.slots[0]!, a)).toBe("bandwidth")
  })

  it("an unusable estimate counts as unknown", () => {
    const a = simulcast(0)
    for (const budgetBps of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const { slots } = new LayerAllocator().allocate({
        nowMs: 0,
        budgetBps,
        audioBps: Number.NaN,
        slots: [slot("a", a)]
      })
      expect(heightOf(slots[0]!, a)).toBe(720)
    }
  })
})

describe("LayerAllocator over time", () => {
  const a = simulcast(0)
  const run = (allocator: LayerAllocator, nowMs: number, videoBps: number) =>
    heightOf(
      allocator.allocate({ nowMs, budgetBps: budgetFor(videoBps), audioBps: 0, slots: [slot("a", a)] })
        .slots[0]!,
      a
    )

  it("goes down on the first evaluation after the estimate drops, and up only after the hold", () => {
    const allocator = new LayerAllocator()
    expect(run(allocator, 0, 3_000_000)).toBe(720)
    expect(run(allocator, 1000, 1_000_000)).toBe(360)
    expect(run(allocator, 1500, 200_000)).toBe(180)
    expect(run(allocator, 2000, 100_000)).toBe("bandwidth")
    // the estimate recovers at once: the picture comes back at the minimum after the shorter
    // resume hold, the layers above it one hold at a time
    expect(run(allocator, 3000, 3_000_000)).toBe("bandwidth")
    expect(run(allocator, 2000 + RESUME_HOLD_MS - 1, 3_000_000)).toBe("bandwidth")
    expect(run(allocator, 2000 + RESUME_HOLD_MS, 3_000_000)).toBe(180)
    expect(run(allocator, 2000 + RESUME_HOLD_MS + SWITCH_HOLD_MS - 1, 3_000_000)).toBe(180)
    expect(run(allocator, 2000 + RESUME_HOLD_MS + SWITCH_HOLD_MS, 3_000_000)).toBe(720)
    expect(run(allocator, 10_000, 1_000_000)).toBe(360)
    expect(run(allocator, 10_000 + SWITCH_HOLD_MS - 1, 3_000_000)).toBe(360)
    expect(run(allocator, 10_000 + SWITCH_HOLD_MS, 3_000_000)).toBe(720)
  })

  it("keeps the minimum while it fits, and brings a paused slot back to it only with the fill's headroom", () => {
    const allocator = new LayerAllocator()
    // A thin link: 180p (150k) beside 60k of audio.
    const at = (nowMs: number, videoBps: number) =>
      heightOf(
        allocator.allocate({
          nowMs,
          budgetBps: budgetFor(videoBps, 60_000),
          audioBps: 60_000,
          slots: [slot("a", a)]
        }).slots[0]!,
        a
      )
    expect(at(0, 160_000)).toBe(180)
    expect(at(1000, 150_000)).toBe(180)
    expect(at(2000, 140_000)).toBe("bandwidth")
    // Just fitting again is not enough to come back, nor is the fill's headroom before the resume hold.
    expect(at(2000 + RESUME_HOLD_MS, 160_000)).toBe("bandwidth")
    expect(at(2000 + RESUME_HOLD_MS - 1, 190_000)).toBe("bandwidth")
    expect(at(2000 + RESUME_HOLD_MS, 186_000)).toBe("bandwidth")
    expect(at(2000 + RESUME_HOLD_MS + 250, 188_000)).toBe(180)
  })

  it("under congestion goes down to where the layers fit with headroom, not to the brink", () => {
    const allocator = new LayerAllocator()
    const b = simulcast(10)
    const both = (nowMs: number, videoBps: number) =>
      allocator
        .allocate({ nowMs, budgetBps: budgetFor(videoBps), audioBps: 0, slots: [slot("a", a), slot("b", b)] })
        .slots.map((s, i) => heightOf(s, i === 0 ? a : b))
    expect(both(0, 4_000_000)).toEqual([720, 720])
    // 720p + 360p (2.0M) would just fit in 2.1M; 360p + 360p leaves room for the rates to wobble
    expect(both(1000, 2_100_000)).toEqual([360, 360])
    expect(both(2000, 2_100_000)).toEqual([360, 360])
  })

  it("goes up only with headroom: not to a layer that would just fit", () => {
    const allocator = new LayerAllocator()
    // 180p to 360p: 500k must stay within 80 % of the room for video: from 625k
    expect(run(allocator, 0, 620_000)).toBe(180)
    expect(run(allocator, 10_000, 630_000)).toBe(360)
    // 360p to 720p: 1.5M within 80 %, from 1.875M
    expect(run(allocator, 20_000, 1_500_000)).toBe(360)
    expect(run(allocator, 30_000, 1_870_000)).toBe(360)
    expect(run(allocator, 40_000, 1_880_000)).toBe(720)
    // staying only needs to fit
    expect(run(allocator, 31_000, 1_500_000)).toBe(720)
    expect(run(allocator, 32_000, 1_499_000)).toBe(360)
  })

  it("a forced layer holds whatever the budget until cleared, and only while it flows", () => {
    const allocator = new LayerAllocator()
    allocator.force("a", 3)
    const forced = allocator.allocate({ nowMs: 0, budgetBps: 100_000, audioBps: 0, slots: [slot("a", a)] })
      .slots[0]!
    expect(forced).toMatchObject({ _tag: "Forward", ssrc: 3, forced: true })
    const withoutIt = [a[0]!, a[1]!, { ...a[2]!, flowing: false }]
    const fallback = allocator.allocate({
      nowMs: 1000,
      budgetBps: budgetFor(200_000),
      audioBps: 0,
      slots: [slot("a", withoutIt)]
    }).slots[0]!
    expect(fallback).toMatchObject({ _tag: "Forward", ssrc: 1, forced: false })
    allocator.force("a", undefined)
    expect(run(allocator, 2000, 100_000)).toBe("bandwidth")
  })

  it("forgets a slot that disappears", () => {
    const allocator = new LayerAllocator()
    expect(run(allocator, 0, 200_000)).toBe(180)
    allocator.allocate({ nowMs: 1000, budgetBps: budgetFor(200_000), audioBps: 0, slots: [] })
    // back as a new slot: no hold from its former life
    expect(run(allocator, 2000, 3_000_000)).toBe(720)
  })

  it("moves a slot whose layer stopped flowing at once", () => {
    const allocator = new LayerAllocator()
    expect(run(allocator, 0, 3_000_000)).toBe(720)
    const topStopped = [a[0]!, a[1]!, { ...a[2]!, flowing: false }]
    const next = allocator.allocate({
      nowMs: 100,
      budgetBps: budgetFor(3_000_000),
      audioBps: 0,
      slots: [slot("a", topStopped, {}, 3)]
    }).slots[0]!
    expect(next).toMatchObject({ _tag: "Forward" })
    expect(next._tag === "Forward" && next.ssrc !== 3).toBe(true)
  })
})

// ------------------------------------------------------------------ properties

interface TrackSpec {
  readonly heights: number[]
  readonly rates: number[]
}

const trackSpec: fc.Arbitrary<TrackSpec> = fc
  .record({
    count: fc.integer({ min: 1, max: 3 }),
    base: fc.integer({ min: 50_000, max: 400_000 }),
    steps: fc.array(fc.double({ min: 1.5, max: 4, noNaN: true }), { minLength: 2, maxLength: 2 }),
    heights: fc.constantFrom([180, 360, 720], [90, 180, 360], [360, 540, 1080])
  })
  .map(({ count, base, steps, heights }) => {
    const rates = [base]
    for (let i = 1; i < count; i++) rates.push(Math.round(rates[i - 1]! * steps[i - 1]!))
    return { heights: heights.slice(0, count), rates }
  })

const preferences: fc.Arbitrary<SlotPreferences> = fc.record(
  {
    maxHeight: fc.constantFrom(90, 180, 360, 400, 720, 1080),
    minHeight: fc.constantFrom(90, 180, 360, 720),
    priority: fc.integer({ min: 0, max: 2 }),
    paused: fc.boolean()
  },
  { requiredKeys: [] }
)

const slotSpecs = fc.array(fc.record({ track: trackSpec, preferences }), { minLength: 1, maxLength: 5 })

/** The slot's layers at one evaluation: each rate wobbles by up to `noise`. */
const layersOf = (track: TrackSpec, slotIndex: number, wobble: (i: number) => number): LayerInfo[] =>
  track.rates.map((rate, i) => layer(slotIndex * 10 + i + 1, track.heights[i], Math.round(rate * wobble(i))))

/** The index range preferences allow, computed independently of the allocator. */
const range = (layers: ReadonlyArray<LayerInfo>, prefs: SlotPreferences) => {
  const top = layers.length - 1
  const reach = (h: number) => {
    const i = layers.findIndex((l) => l.height! >= h)
    return i < 0 ? top : i
  }
  const max = prefs.maxHeight === undefined ? top : reach(prefs.maxHeight)
  const min = Math.min(max, prefs.minHeight === undefined ? 0 : reach(prefs.minHeight))
  return { min, max }
}

describe("LayerAllocator properties", () => {
  it("stays within the budget, honours priorities and limits, and pauses only what cannot fit", () => {
    fc.assert(
      fc.property(
        slotSpecs,
        fc.array(
          fc.record({
            dt: fc.integer({ min: 100, max: 8000 }),
            budget: fc.integer({ min: 0, max: 8_000_000 }),
            audio: fc.integer({ min: 0, max: 200_000 }),
            noise: fc.array(fc.double({ min: 0.8, max: 1.2, noNaN: true }), { minLength: 15, maxLength: 15 })
          }),
          { minLength: 1, maxLength: 30 }
        ),
        (specs, steps) => {
          const allocator = new LayerAllocator()
          let now = 0
          const pausedBefore = new Set<string>()
          for (const step of steps) {
            now += step.dt
            const demands = specs.map((s, i) =>
              slot(
                `s${i}`,
                layersOf(s.track, i, (l) => step.noise[i * 3 + l]!),
                s.preferences
              )
            )
            const input: AllocationInput = {
              nowMs: now,
              budgetBps: step.budget,
              audioBps: step.audio,
              slots: demands
            }
            const result = allocator.allocate(input)
            const available = Math.max(0, step.budget * (1 - RESERVE) - step.audio)
            expect(result.videoBps).toBeLessThanOrEqual(available + 1e-6)

            const order = demands
              .map((d, i) => ({ d, a: result.slots[i]!, prio: d.preferences.priority ?? 0 }))
              .sort((x, y) => y.prio - x.prio || (x.d.key < y.d.key ? -1 : 1))
            let minimumsSoFar = 0
            for (const { d, a } of order) {
              const { min, max } = range(d.layers, d.preferences)
              if (d.preferences.paused) {
                expect(a).toMatchObject({ _tag: "Paused", reason: "client" })
                continue
              }
              if (a._tag === "Forward") {
                expect(a.layerIndex).toBeGreaterThanOrEqual(min)
                expect(a.layerIndex).toBeLessThanOrEqual(max)
                minimumsSoFar += d.layers[min]!.bitrateBps
              } else {
                expect(a.reason).toBe("bandwidth")
                // newly paused: its minimum did not fit beside the minimums of the slots before it
                if (!pausedBefore.has(d.key))
                  expect(d.layers[min]!.bitrateBps).toBeGreaterThan(available - minimumsSoFar)
              }
            }
            for (const x of order)
              for (const y of order) {
                if (x.prio <= y.prio || x.a._tag !== "Forward" || y.a._tag !== "Forward") continue
                const rx = range(x.d.layers, x.d.preferences)
                const ry = range(y.d.layers, y.d.preferences)
                const xWantsMore = x.a.layerIndex < rx.max
                const yRaised = y.a.layerIndex > ry.min
                if (xWantsMore && yRaised) expect(x.a.layerIndex).toBeGreaterThanOrEqual(y.a.layerIndex)
              }
            pausedBefore.clear()
            for (const a of result.slots)
              if (a._tag === "Paused" && a.reason === "bandwidth") pausedBefore.add(a.key)
          }
        }
      ),
      { seed: 31, numRuns: 300, endOnFailure: true }
    )
  })

  it("under a steady estimate, with rates wobbling by 10 %, a slot switches at most once per 5 s", () => {
    fc.assert(
      fc.property(
        slotSpecs,
        fc.integer({ min: 100_000, max: 8_000_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        (specs, budget, seed) => {
          let state = seed
          const random = () => {
            state = (state * 1103515245 + 12345) % 2147483648
            return state / 2147483648
          }
          const allocator = new LayerAllocator()
          const switches = new Map<string, number[]>()
          const last = new Map<string, number | undefined>()
          for (let now = 0; now <= 180_000; now += 500) {
            const demands = specs.map((s, i) =>
              slot(
                `s${i}`,
                layersOf(s.track, i, () => 0.9 + 0.2 * random()),
                { ...s.preferences, paused: false }
              )
            )
            const result = allocator.allocate({
              nowMs: now,
              budgetBps: budget,
              audioBps: 32_000,
              slots: demands
            })
            for (const a of result.slots) {
              const target = a._tag === "Forward" ? a.ssrc : undefined
              if (now > 0 && target !== last.get(a.key))
                switches.set(a.key, [...(switches.get(a.key) ?? []), now])
              last.set(a.key, target)
            }
          }
          for (const times of switches.values())
            for (let i = 1; i < times.length; i++)
              expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(SWITCH_HOLD_MS)
        }
      ),
      { seed: 32, numRuns: 200, endOnFailure: true }
    )
  })
})
