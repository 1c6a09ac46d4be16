import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { Buggify, buggifySites } from "../../src/fault/buggify.ts"
import { specForSeed } from "../chaos/arbitrary.ts"
import { chaosScenario } from "../chaos/interpret.ts"
import { runScenario } from "../run.ts"
import { scenarioNamed } from "../scenarios/index.ts"

describe("buggify", () => {
  it("is off unless a simulation turns it on", () => {
    expect(
      Effect.runSync(
        Effect.gen(function* () {
          return (yield* Buggify).enabled
        })
      )
    ).toBe(false)
  })

  it("every injection point fires across a few runs, and the oracles still hold", {
    timeout: 120_000
  }, async () => {
    const fired = Object.fromEntries(buggifySites.map((site) => [site, 0]))
    const runs = [
      runScenario(scenarioNamed("buggify-busy-room")!, { seed: 3 }),
      runScenario(scenarioNamed("component-failures")!, { seed: 3 }),
      ...[11, 12, 13].map((seed) => runScenario(chaosScenario(specForSeed(seed)), { seed, buggify: true }))
    ]
    for (const report of await Promise.all(runs)) {
      expect(report.violations, report.violations.map((v) => v.message).join("\n")).toEqual([])
      for (const [site, n] of Object.entries(report.buggify ?? {})) fired[site]! += n
    }
    for (const site of buggifySites) expect(fired[site], site).toBeGreaterThan(0)
  })
})
