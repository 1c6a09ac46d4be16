import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { SequenceUnwrapper, seqAdd, seqDiff, tsAdd, tsDiff } from "../../src/media/sequence-number.ts"

const params = { seed: 42, numRuns: 300 }
const seq = fc.integer({ min: 0, max: 0xffff })
const ts = fc.integer({ min: 0, max: 0xffffffff })

describe("seqDiff / seqAdd", () => {
  it("handles wraparound", () => {
    expect(seqDiff(0, 65535)).toBe(1)
    expect(seqDiff(65535, 0)).toBe(-1)
    expect(seqDiff(5, 65530)).toBe(11)
    expect(seqDiff(32767, 0)).toBe(32767)
    expect(seqDiff(32768, 0)).toBe(-32768)
    expect(seqAdd(65535, 1)).toBe(0)
    expect(seqAdd(0, -1)).toBe(65535)
    expect(seqAdd(10, -65546)).toBe(0)
  })

  it("seqDiff(seqAdd(a, n), a) === n for n in the signed 16-bit range", () => {
    fc.assert(
      fc.property(seq, fc.integer({ min: -32768, max: 32767 }), (a, n) => {
        const b = seqAdd(a, n)
        expect(b).toBeGreaterThanOrEqual(0)
        expect(b).toBeLessThanOrEqual(0xffff)
        expect(seqDiff(b, a)).toBe(n)
      }),
      params
    )
  })

  it("seqDiff is antisymmetric except at the half-way point", () => {
    fc.assert(
      fc.property(seq, seq, (a, b) => {
        const d = seqDiff(a, b)
        expect(d).toBeGreaterThanOrEqual(-32768)
        expect(d).toBeLessThanOrEqual(32767)
        if (d !== -32768) expect(seqDiff(b, a) + d).toBe(0)
      }),
      params
    )
  })
})

describe("tsDiff / tsAdd", () => {
  it("handles wraparound", () => {
    expect(tsAdd(0xffffffff, 1)).toBe(0)
    expect(tsAdd(0, -1)).toBe(0xffffffff)
    expect(tsDiff(0, 0xffffffff)).toBe(1)
    expect(tsDiff(0xffffff9c, 100)).toBe(-200)
  })

  it("tsDiff(tsAdd(a, n), a) === n for n in the signed 32-bit range", () => {
    fc.assert(
      fc.property(ts, fc.integer({ min: -0x80000000, max: 0x7fffffff }), (a, n) => {
        const b = tsAdd(a, n)
        expect(b).toBeGreaterThanOrEqual(0)
        expect(b).toBeLessThan(0x100000000)
        expect(tsDiff(b, a)).toBe(n)
      }),
      params
    )
  })
})

describe("SequenceUnwrapper", () => {
  it("keeps increasing across several wraparounds", () => {
    const u = new SequenceUnwrapper()
    let s = 65000
    let previous = u.unwrap(s)
    for (let i = 0; i < 200_000; i += 7) {
      s = seqAdd(s, 7)
      const value = u.unwrap(s)
      expect(value - previous).toBe(7)
      previous = value
    }
  })

  it("places reordered packets behind without moving forward, staying positive", () => {
    const u = new SequenceUnwrapper()
    const first = u.unwrap(2)
    expect(u.unwrap(65534)).toBe(first - 4)
    expect(u.unwrap(65534)).toBeGreaterThan(0)
    expect(u.unwrap(3)).toBe(first + 1)
    expect(u.unwrap(1)).toBe(first - 1)
  })

  it("unwrapped differences match seqDiff for any walk of steps within ±32767", () => {
    fc.assert(
      fc.property(
        seq,
        fc.array(fc.integer({ min: -60000, max: 60000 }), { maxLength: 100 }),
        (start, steps) => {
          const u = new SequenceUnwrapper()
          let trueValue = 20 * 65536 + start
          let highest = trueValue
          const base = u.unwrap(start) - trueValue
          for (const step of steps) {
            // Keep every input within ±32767 of the highest seen, as the contract requires.
            const next = Math.min(Math.max(trueValue + step, highest - 32767), highest + 32767)
            trueValue = next
            highest = Math.max(highest, trueValue)
            expect(u.unwrap(trueValue & 0xffff) - base).toBe(trueValue)
          }
        }
      ),
      params
    )
  })
})
