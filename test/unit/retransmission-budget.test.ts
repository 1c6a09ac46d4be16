import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { RetransmissionBudget } from "../../src/media/retransmission-budget.ts"

describe("retransmission budget", () => {
  it("never allows more than share × forwarded + burst retransmissions, and allows them when earned", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant<"send">("send"), fc.constant<"nack">("nack")), { maxLength: 2000 }),
        (events) => {
          const budget = new RetransmissionBudget(0.2, 16)
          let forwarded = 0
          let spent = 0
          for (const event of events) {
            if (event === "send") {
              forwarded++
              budget.forwarded()
            } else if (budget.trySpend()) {
              spent++
            }
          }
          expect(spent).toBeLessThanOrEqual(forwarded * 0.2 + 16)
        }
      ),
      { seed: 5, numRuns: 300 }
    )
  })

  it("refills: after enough forwarded packets a spent budget allows retransmissions again", () => {
    const budget = new RetransmissionBudget(0.2, 4)
    for (let i = 0; i < 4; i++) expect(budget.trySpend()).toBe(true)
    expect(budget.trySpend()).toBe(false)
    budget.forwarded(5)
    expect(budget.trySpend()).toBe(true)
    expect(budget.trySpend()).toBe(false)
  })
})
