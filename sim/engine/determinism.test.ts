import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"
import { specForSeed } from "../chaos/arbitrary.ts"
import { chaosScenario } from "../chaos/interpret.ts"
import { runScenario } from "../run.ts"
import { scenarioNamed } from "../scenarios/index.ts"

const run = promisify(execFile)

const cli = async (...args: string[]) => {
  const { stdout } = await run("npx", ["tsx", "sim/cli.ts", ...args], { cwd: process.cwd(), timeout: 60_000 })
  return stdout.trim().split("\n")
}

describe("determinism", () => {
  it("one seed determines the whole run; another seed gives another run", async () => {
    const scenario = scenarioNamed("busy-room")!
    const a = await runScenario(scenario, { seed: 7 })
    const b = await runScenario(scenario, { seed: 7 })
    const c = await runScenario(scenario, { seed: 8 })
    expect(a.trace).toBe(b.trace)
    expect(a.traceLines).toBe(b.traceLines)
    expect(c.trace).not.toBe(a.trace)
  })

  it("generated scenarios replay exactly, with faults injected into the server", async () => {
    const seed = 41
    const scenario = chaosScenario(specForSeed(seed))
    const a = await runScenario(scenario, { seed, buggify: true })
    const b = await runScenario(scenario, { seed, buggify: true })
    expect(a.trace).toBe(b.trace)
    expect(a.buggify).toEqual(b.buggify)
  })

  it("the CLI prints the trace hash last: same for the same seed, different for another", {
    timeout: 120_000
  }, async () => {
    const [first, second, other] = await Promise.all([
      cli("--scenario", "two-peers", "--seed", "3"),
      cli("--scenario", "two-peers", "--seed", "3"),
      cli("--scenario", "two-peers", "--seed", "4")
    ])
    const last = (lines: string[]) => lines.at(-1)!
    expect(last(first!)).toMatch(/^trace=[0-9a-f]{64}$/)
    expect(last(second!)).toBe(last(first!))
    expect(last(other!)).not.toBe(last(first!))
  })

  it("the CLI lists the named scenarios, one a line", { timeout: 60_000 }, async () => {
    const lines = await cli("--list")
    expect(lines).toContain("two-peers")
    expect(lines).toContain("regression-late-keyframe-after-bind")
  })
})
