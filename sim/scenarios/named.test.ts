import { describe, expect, it } from "vitest"
import { runScenario } from "../run.ts"
import { coreScenarios } from "./index.ts"

const describeViolations = (violations: ReadonlyArray<{ oracle: string; message: string }>) =>
  violations.map((v) => `${v.oracle}: ${v.message}`).join("\n")

describe("named scenarios", () => {
  for (const scenario of coreScenarios) {
    const seeds = process.env.SIM_SEED
      ? [Number(process.env.SIM_SEED)]
      : [scenario.seed ?? 1, (scenario.seed ?? 1) + 1]
    for (const seed of seeds) {
      it(`${scenario.name} (seed ${seed})`, { timeout: 60_000 }, async () => {
        const report = await runScenario(scenario, { seed })
        expect(report.violations, describeViolations(report.violations)).toEqual([])
      })
    }
  }
})
