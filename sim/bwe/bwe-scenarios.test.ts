import { beforeAll, describe, expect, it } from "vitest"
import { capacityAt } from "../network/capacity-schedule.ts"
import { type RunReport, runScenario } from "../run.ts"
import type { BweReport } from "./bwe-report.ts"
import {
  audioDelivered,
  downSwitchesInTime,
  lowestLayerOrPaused,
  noOscillation,
  notStarved,
  upSwitchesInTime
} from "./contract.ts"
import { bestFitting, fits, lowest } from "./layer-fit.ts"
import type { SubscriberMeasurement } from "./measurements.ts"
import { type BweScenario, bweScenarios } from "./scenarios.ts"

/**
 * The bandwidth-adaptation contract of issue 4 over the BWE scenarios: each subscriber's
 * layers follow its own downlink (estimate from its feedback, allocator, per-slot switcher).
 * `SIM_SEED=n` replays another seed.
 */

const seedOf = (scenario: BweScenario) =>
  process.env.SIM_SEED ? Number(process.env.SIM_SEED) : scenario.seed

const runs = new Map<string, RunReport>()
const bwe = (name: string): BweReport => {
  const report = runs.get(name)?.bwe
  if (!report) throw new Error(`${name} did not run or measured nothing`)
  return report
}
const problems = (name: string, check: (m: SubscriberMeasurement, report: BweReport) => string[]) => {
  const report = bwe(name)
  return report.subscribers.flatMap((m) => check(m, report))
}
/** Subscribers whose downlink always carries the lowest layer and the audio. */
const lowestFitsThroughout = (m: SubscriberMeasurement, report: BweReport) =>
  m.record.capacity.every((p) => fits(lowest(report.layers).kbps, p.kbps))

beforeAll(async () => {
  for (const scenario of bweScenarios)
    runs.set(scenario.name, await runScenario(scenario, { seed: seedOf(scenario) }))
}, 120_000)

describe("bandwidth-adaptation scenarios", () => {
  for (const scenario of bweScenarios) {
    it(`${scenario.name}: the simulation's own oracles hold and every subscriber was measured`, () => {
      const report = runs.get(scenario.name)!
      expect(report.violations.map((v) => `${v.oracle}: ${v.message}`)).toEqual([])
      expect(report.bwe?.subscribers.length).toBeGreaterThan(0)
      for (const m of report.bwe!.subscribers) expect(m.record.audioSent).toBeGreaterThan(1000)
    })
  }
})

describe("bwe-capacity-steps and bwe-sliding-capacity", () => {
  for (const name of ["bwe-capacity-steps", "bwe-sliding-capacity"]) {
    it(`${name}: steps down within 2 s of the drop and back up within 10 s of the recovery`, () => {
      const m = bwe(name).subscribers[0]!
      expect(m.events.filter((e) => e.direction === "down").length).toBeGreaterThan(0)
      expect(m.events.filter((e) => e.direction === "up").length).toBeGreaterThan(0)
      expect([...downSwitchesInTime(m), ...upSwitchesInTime(m)]).toEqual([])
    })
    it(`${name}: never starved while the lowest layer fits`, () => {
      expect(problems(name, (m, r) => notStarved(m, r.layers))).toEqual([])
    })
    it(`${name}: audio at least 95 % delivered`, () => {
      expect(problems(name, (m) => audioDelivered(m))).toEqual([])
    })

    it(`${name}: at most one switch per 5 s while the link is steady`, () => {
      expect(problems(name, (m) => noOscillation(m))).toEqual([])
    })
  }
})

describe("bwe-bursty-loss", () => {
  const name = "bwe-bursty-loss"
  it("loss is not congestion: the top layer at least 80 % of the time, no flapping, never starved", () => {
    const report = bwe(name)
    for (const m of report.subscribers) expect(m.layerShare.get(0) ?? 0).toBeGreaterThan(0.8)
    expect(problems(name, (m) => noOscillation(m))).toEqual([])
    expect(problems(name, (m, r) => notStarved(m, r.layers))).toEqual([])
  })
})

describe("bwe-thin-link", () => {
  const name = "bwe-thin-link"
  it("the 150 kbit/s subscriber's audio is at least 95 % delivered", () => {
    expect(problems(name, (m) => audioDelivered(m))).toEqual([])
  })

  it("the 150 kbit/s subscriber is shown the lowest layer or nothing", () => {
    expect(problems(name, (m, r) => lowestLayerOrPaused(m, r.layers))).toEqual([])
  })
})

describe("bwe-top-layer-stops", () => {
  const name = "bwe-top-layer-stops"
  it("moves off the stopped top layer within 2 s", () => {
    const stops = problems(name, (m) => downSwitchesInTime(m))
    expect(bwe(name).subscribers.every((m) => m.events.some((e) => e.cause === "layer stopped"))).toBe(true)
    expect(stops).toEqual([])
  })

  it("returns to the top layer within 10 s of its return, never starved, audio intact", () => {
    expect(bwe(name).subscribers.every((m) => m.events.some((e) => e.cause === "layer resumed"))).toBe(true)
    expect(problems(name, (m) => upSwitchesInTime(m))).toEqual([])
    expect(problems(name, (m, r) => notStarved(m, r.layers))).toEqual([])
    expect(problems(name, (m) => audioDelivered(m))).toEqual([])
    expect(problems(name, (m) => noOscillation(m))).toEqual([])
  })
})

describe("bwe-ten-subscribers", () => {
  const name = "bwe-ten-subscribers"
  const SETTLE_MS = 10_000
  it("every viewer shows a layer its own downlink carries, 80 % of the time after settling", () => {
    const report = bwe(name)
    const misfits: string[] = []
    for (const m of report.subscribers.filter((s) => lowestFitsThroughout(s, report))) {
      const frames = m.record.frames.filter((f) => f.t >= m.record.from + SETTLE_MS)
      const fitting = frames.filter((f) => {
        const best = bestFitting(report.layers, capacityAt(m.record.capacity, f.t))
        return best !== undefined && report.layers[f.layer]!.kbps <= best.kbps
      })
      const span = (m.record.to - m.record.from - SETTLE_MS) / 1000
      // 30 fps for 80 % of the time.
      if (fitting.length < 0.8 * 30 * span) misfits.push(`${m.subscriber}: ${fitting.length} fitting frames`)
    }
    expect(misfits).toEqual([])
  })
  it("no viewer is starved while the lowest layer fits, and their audio is intact", () => {
    const report = bwe(name)
    const viewers = report.subscribers.filter((s) => lowestFitsThroughout(s, report))
    expect(viewers.flatMap((m) => [...notStarved(m, report.layers), ...audioDelivered(m)])).toEqual([])
  })

  it("no viewer's layer flaps", () => {
    expect(problems(name, (m) => noOscillation(m))).toEqual([])
  })
})
