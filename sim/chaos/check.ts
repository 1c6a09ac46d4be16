import fc from "fast-check"
import { type RunReport, runScenario } from "../run.ts"
import { chaosSpec } from "./arbitrary.ts"
import { chaosScenario } from "./interpret.ts"
import type { ChaosSpec } from "./spec.ts"

/** Wall-clock budget for shrinking a failure (each attempt is a whole simulation). */
const SHRINK_BUDGET_MS = 60_000

export interface SeedOutcome {
  readonly seed: number
  readonly ok: boolean
  /** Failure report, with the shrunk scenario, for humans. */
  readonly message: string
  readonly report: RunReport | undefined
}

class ScenarioFailed extends Error {
  constructor(readonly report: RunReport) {
    super(report.violations.map((v) => `${v.oracle}: ${v.message}`).join("\n"))
  }
}

/**
 * Runs the generated scenario of `seed` (the first spec fast-check generates from it) with
 * the simulation seeded by the same number; on a failure fast-check shrinks the spec,
 * re-running the simulation with that seed, and the message shows the smallest scenario
 * that still fails.
 */
export const checkSeed = async (seed: number): Promise<SeedOutcome> => {
  let lastFailure: RunReport | undefined
  const details = await fc.check(
    fc.asyncProperty(chaosSpec, async (spec: ChaosSpec) => {
      const report = await runScenario(chaosScenario(spec), { seed })
      if (report.violations.length > 0) {
        lastFailure = report
        throw new ScenarioFailed(report)
      }
    }),
    { seed, numRuns: 1, interruptAfterTimeLimit: SHRINK_BUDGET_MS, markInterruptAsFailure: false }
  )
  if (!details.failed) return { seed, ok: true, message: "", report: undefined }
  const shrunk = details.counterexample?.[0] as ChaosSpec | undefined
  const error = details.errorInstance instanceof ScenarioFailed ? details.errorInstance.report : lastFailure
  const message = [
    `generated scenario failed: SIM_SEED=${seed} npm run test:sim replays it`,
    `shrunk ${details.numShrinks} time(s) to:`,
    JSON.stringify(shrunk),
    "violations of the shrunk scenario:",
    ...(error?.violations ?? []).map((v) => `  ${v.oracle}: ${v.message}`),
    "last trace lines:",
    ...(error?.traceTail ?? []).slice(-15).map((line) => `  ${line}`)
  ].join("\n")
  return { seed, ok: false, message, report: error }
}
