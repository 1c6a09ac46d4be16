import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { AimdRateControl } from "../../src/media/aimd-rate-control.ts"
import { DelayBasedEstimator } from "../../src/media/delay-based-estimator.ts"
import { type DelayVariation, InterArrivalGroups } from "../../src/media/inter-arrival-groups.ts"
import { type BandwidthUsage, TrendlineOveruseDetector } from "../../src/media/trendline-overuse-detector.ts"

/** Packets every `spacingMs`, each arriving `delayOf(sendTimeMs)` later (receiver epoch offset 1e9). */
const variations = (count: number, spacingMs: number, delayOf: (sendTimeMs: number) => number) => {
  const groups = new InterArrivalGroups()
  const out: Array<DelayVariation> = []
  for (let i = 0; i < count; i++) {
    const sendTimeMs = i * spacingMs
    const result = groups.add(sendTimeMs, 1e9 + sendTimeMs + delayOf(sendTimeMs))
    if (result._tag === "Variation") out.push(result.variation)
  }
  return out
}

const detect = (samples: ReadonlyArray<DelayVariation>): Array<BandwidthUsage> => {
  const detector = new TrendlineOveruseDetector()
  return samples.map((sample) => detector.update(sample))
}

describe("inter-arrival groups", () => {
  it("groups packets sent within 5 ms and, on a constant delay, sees no variation", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 500 }), (spacingMs, delayMs) => {
        const out = variations(400, spacingMs, () => delayMs)
        const sendSpanMs = 399 * spacingMs
        // One variation per closed group after the first: groups span more than 5 ms of sending.
        expect(out.length).toBeLessThanOrEqual(Math.ceil(sendSpanMs / (5 + 1)) + 1)
        expect(out.length).toBeGreaterThan(0)
        for (const variation of out) {
          expect(variation.arrivalDeltaMs).toBeCloseTo(variation.sendDeltaMs, 9)
          expect(variation.sendDeltaMs).toBeGreaterThan(5)
        }
      })
    )
  })

  it("treats a receiver clock jump as a reset, not as queueing", () => {
    for (const jumpMs of [-60_000, -3500, 4000, 3_600_000]) {
      const groups = new InterArrivalGroups()
      const results: Array<string> = []
      for (let i = 0; i < 100; i++) {
        const sendTimeMs = i * 10
        const arrival = 5e8 + sendTimeMs + 30 + (i >= 50 ? jumpMs : 0)
        const result = groups.add(sendTimeMs, arrival)
        results.push(result._tag)
        if (result._tag === "Variation") {
          expect(Math.abs(result.variation.arrivalDeltaMs - result.variation.sendDeltaMs)).toBeLessThan(1e-6)
        }
      }
      expect(results.filter((tag) => tag === "Reset")).toHaveLength(1)
      expect(results.slice(60).every((tag) => tag === "Variation")).toBe(true)
    }
  })

  it("drops stragglers sent before the group being built", () => {
    const groups = new InterArrivalGroups()
    groups.add(0, 100)
    groups.add(10, 110)
    groups.add(20, 120)
    expect(groups.add(5, 121)._tag).toBe("None")
    expect(groups.add(30, 130)).toEqual({
      _tag: "Variation",
      variation: { sendDeltaMs: 10, arrivalDeltaMs: 10, arrivalTimeMs: 120 }
    })
  })
})

describe("trendline overuse detector", () => {
  it("stays normal on a steady delay, flags overuse on a rising one and underuse on a falling one", () => {
    expect(detect(variations(600, 5, () => 40)).every((usage) => usage === "normal")).toBe(true)
    // The queue grows by 0.2 ms per ms: the sender is 20 % above capacity.
    const rising = detect(variations(600, 5, (sendTimeMs) => 40 + 0.2 * sendTimeMs))
    expect(rising.slice(0, 10)).not.toContain("overusing")
    expect(rising.indexOf("overusing")).toBeGreaterThan(0)
    expect(rising.indexOf("overusing")).toBeLessThan(60)
    const falling = detect(variations(600, 5, (sendTimeMs) => Math.max(600 - 0.2 * sendTimeMs, 40)))
    expect(falling.indexOf("underusing")).toBeGreaterThan(0)
    expect(falling).not.toContain("overusing")
  })

  it("shrugs off jitter that does not trend", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 3, noNaN: true }), { minLength: 300, maxLength: 300 }),
        (jitter) => {
          const usages = detect(
            variations(1200, 5, (sendTimeMs) => 30 + jitter[Math.floor(sendTimeMs / 20)]!)
          )
          expect(usages.filter((usage) => usage === "overusing").length).toBeLessThan(usages.length * 0.1)
        }
      ),
      { seed: 41, numRuns: 50 }
    )
  })
})

describe("AIMD rate control", () => {
  const usage = fc.constantFrom<BandwidthUsage>("normal", "overusing", "underusing")

  it("stays within bounds; overuse never raises the rate; growth stops at the ceiling and near the acknowledged rate", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            usage,
            ackedBps: fc.option(fc.integer({ min: 0, max: 20_000_000 }), { nil: undefined }),
            elapsedMs: fc.integer({ min: 0, max: 3000 }),
            ceilingBps: fc.integer({ min: 50_000, max: 10_000_000 })
          }),
          { maxLength: 200 }
        ),
        (steps) => {
          const control = new AimdRateControl(1_000_000, { minBps: 50_000, maxBps: 10_000_000 })
          let nowMs = 0
          let latestAcked: number | undefined
          for (const step of steps) {
            nowMs += step.elapsedMs
            const before = control.bitrateBps
            latestAcked = step.ackedBps ?? latestAcked
            const after = control.update(step.usage, step.ackedBps, nowMs, step.ceilingBps)
            expect(after).toBeGreaterThanOrEqual(50_000)
            expect(after).toBeLessThanOrEqual(10_000_000)
            if (step.usage !== "normal") expect(after).toBeLessThanOrEqual(before)
            if (after > before) {
              const ackedLimit =
                latestAcked === undefined ? Number.POSITIVE_INFINITY : 1.5 * latestAcked + 10_000
              expect(after).toBeLessThanOrEqual(
                Math.max(Math.min(step.ceilingBps, ackedLimit), 50_000) + 1e-6
              )
            }
          }
        }
      ),
      { seed: 42, numRuns: 300 }
    )
  })

  it("cuts to 85 % of the acknowledged rate on overuse, and to 85 % of a probe's measured rate when that is higher", () => {
    const control = new AimdRateControl(2_000_000, { minBps: 50_000, maxBps: 10_000_000 })
    expect(control.update("overusing", 1_000_000, 0, 10_000_000)).toBeCloseTo(850_000)
    expect(control.update("overusing", 900_000, 1000, 10_000_000, 1_500_000)).toBeCloseTo(1_275_000)
  })

  it("cuts from the rate a burst was just delivered at when the acknowledged rate lags behind it, never up to it", () => {
    const control = new AimdRateControl(2_300_000, { minBps: 50_000, maxBps: 10_000_000 })
    // A layer switch: the acknowledged rate still shows the old layer, the keyframe crossed the link at 3 Mbit/s.
    expect(control.update("overusing", 1_300_000, 0, 10_000_000, undefined, 3_000_000)).toBeCloseTo(2_300_000)
    expect(control.update("overusing", 1_300_000, 1000, 10_000_000, undefined, 2_400_000)).toBeCloseTo(
      2_040_000
    )
    // A burst slower than the acknowledged rate says less than it.
    expect(control.update("overusing", 1_600_000, 2000, 10_000_000, undefined, 400_000)).toBeCloseTo(
      1_360_000
    )
  })

  it("after a probe filled a link that media alone uses little of, lands at 95 % of what it measured, not 85 %", () => {
    const bounds = { minBps: 50_000, maxBps: 10_000_000 }
    // Audio only on a thin link: the probe's own queue drains as soon as the probe is over.
    const appLimited = new AimdRateControl(250_000, bounds)
    expect(appLimited.update("overusing", 120_000, 0, 10_000_000, 300_000, undefined, 60_000)).toBeCloseTo(
      285_000
    )
    // Media near the link: the usual cut, to drain media's share of the queue too.
    const busy = new AimdRateControl(250_000, bounds)
    expect(busy.update("overusing", 280_000, 0, 10_000_000, 300_000, undefined, 230_000)).toBeCloseTo(255_000)
  })

  it("grows about 8 %/s while no capacity is known", () => {
    const control = new AimdRateControl(1_000_000, { minBps: 50_000, maxBps: 10_000_000 })
    control.update("normal", 1_000_000, 0, 10_000_000)
    let rate = 0
    for (let nowMs = 100; nowMs <= 1000; nowMs += 100)
      rate = control.update("normal", 1_000_000, nowMs, 10_000_000)
    expect(rate).toBeGreaterThan(1_070_000)
    expect(rate).toBeLessThan(1_095_000)
  })
})

describe("delay-based estimator", () => {
  it("backs off when queueing delay rises, even though every packet arrives", () => {
    const estimator = new DelayBasedEstimator(2_000_000, { minBps: 50_000, maxBps: 10_000_000 })
    // 2 Mbit/s sent into a 1 Mbit/s bottleneck: each 1200-byte packet waits 4.8 ms longer than the one before.
    for (let feedback = 1; feedback <= 20; feedback++) {
      for (let i = (feedback - 1) * 10; i < feedback * 10; i++) {
        estimator.onReceivedPacket(i * 4.8, 7e5 + i * 9.6 + 25)
      }
      estimator.onFeedbackEnd(1_000_000, undefined, feedback * 48 + 100, 10_000_000)
    }
    expect(estimator.usage).toBe("overusing")
    expect(estimator.bitrateBps).toBeLessThanOrEqual(850_000)
  })
})
