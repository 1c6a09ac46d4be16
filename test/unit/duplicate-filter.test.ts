import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { DUPLICATE_WINDOW, DuplicateFilter } from "../../src/media/duplicate-filter.ts"

describe("DuplicateFilter", () => {
  it("flags exactly the repeats within the window, across 16-bit wraparound", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.array(fc.integer({ min: -300, max: 40 }), { minLength: 1, maxLength: 400 }),
        (start, steps) => {
          const filter = new DuplicateFilter()
          const received = new Set<number>()
          let newest = 0
          let position = 0
          for (const step of steps) {
            position = Math.max(position + step, newest - DUPLICATE_WINDOW + 1)
            const seq = (start + position) & 0xffff
            const expected = received.has(position)
            expect(filter.isDuplicate(seq)).toBe(expected)
            received.add(position)
            newest = Math.max(newest, position)
          }
        }
      )
    )
  })

  it("lets a retransmission that fills a gap through once, and its repeat not", () => {
    const filter = new DuplicateFilter()
    for (const seq of [65530, 65531, 65533, 65534, 0, 1]) expect(filter.isDuplicate(seq)).toBe(false)
    expect(filter.isDuplicate(65532)).toBe(false)
    expect(filter.isDuplicate(65532)).toBe(true)
    expect(filter.isDuplicate(1)).toBe(true)
  })
})
