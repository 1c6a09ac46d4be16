import { describe, expect, it } from "vitest"
import { checkSeed } from "./check.ts"

/** `SIM_SEED=<n>` replays one generated scenario; otherwise seeds 1..SIM_RUNS (200) run. */
const seeds = process.env.SIM_SEED
  ? [Number(process.env.SIM_SEED)]
  : Array.from({ length: Number(process.env.SIM_RUNS ?? 200) }, (_, i) => i + 1)

describe("generated chaos scenarios", () => {
  for (const seed of seeds) {
    it(`seed ${seed}`, { timeout: 120_000 }, async () => {
      const outcome = await checkSeed(seed)
      expect(outcome.ok, outcome.message).toBe(true)
    })
  }
})
