import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { PacketHistory } from "../../src/media/packet-history.ts"
import { seqAdd } from "../../src/media/sequence-number.ts"

interface Sent {
  readonly sequenceNumber: number
  readonly tag: number
}

const params = { seed: 42, numRuns: 200 }

describe("PacketHistory", () => {
  it("returns stored packets by exact sequence number", () => {
    const h = new PacketHistory<Sent>(8)
    expect(h.size).toBe(0)
    h.put({ sequenceNumber: 100, tag: 1 })
    h.put({ sequenceNumber: 101, tag: 2 })
    expect(h.get(100)).toEqual({ sequenceNumber: 100, tag: 1 })
    expect(h.get(101)?.tag).toBe(2)
    expect(h.get(102)).toBeUndefined()
    // Same slot, different seq.
    expect(h.get(108)).toBeUndefined()
    expect(h.size).toBe(2)
  })

  it("evicts a packet when its slot is reused", () => {
    const h = new PacketHistory<Sent>(4)
    h.put({ sequenceNumber: 1, tag: 1 })
    h.put({ sequenceNumber: 5, tag: 5 })
    expect(h.get(1)).toBeUndefined()
    expect(h.get(5)?.tag).toBe(5)
    expect(h.size).toBe(1)
  })

  it("replaces a re-sent seq in place", () => {
    const h = new PacketHistory<Sent>(4)
    h.put({ sequenceNumber: 3, tag: 1 })
    h.put({ sequenceNumber: 3, tag: 2 })
    expect(h.get(3)?.tag).toBe(2)
    expect(h.size).toBe(1)
  })

  it("clears", () => {
    const h = new PacketHistory<Sent>(16)
    for (let s = 0; s < 10; s++) h.put({ sequenceNumber: s, tag: s })
    h.clear()
    expect(h.size).toBe(0)
    for (let s = 0; s < 10; s++) expect(h.get(s)).toBeUndefined()
  })

  it("rejects a non-positive capacity", () => {
    expect(() => new PacketHistory<Sent>(0)).toThrow(RangeError)
    expect(() => new PacketHistory<Sent>(-3)).toThrow(RangeError)
    expect(() => new PacketHistory<Sent>(1.5)).toThrow(RangeError)
  })

  it("keeps at least the last `capacity` consecutive packets, across wraparound", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600 }),
        fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 65000, max: 0xffff })),
        fc.integer({ min: 1, max: 2000 }),
        (capacity, start, count) => {
          const h = new PacketHistory<Sent>(capacity)
          for (let i = 0; i < count; i++) h.put({ sequenceNumber: seqAdd(start, i), tag: i })
          const kept = Math.min(capacity, count)
          for (let back = 1; back <= kept; back++) {
            const i = count - back
            expect(h.get(seqAdd(start, i))).toEqual({ sequenceNumber: seqAdd(start, i), tag: i })
          }
          expect(h.size).toBeGreaterThanOrEqual(kept)
          expect(h.size).toBeLessThanOrEqual(Math.max(capacity * 2, 1))
        }
      ),
      params
    )
  })

  it("never returns a packet with a different sequence number, and always has the latest put", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 300 }),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 50 }),
        (capacity, puts, queries) => {
          const h = new PacketHistory<Sent>(capacity)
          puts.forEach((s, i) => {
            h.put({ sequenceNumber: s, tag: i })
            expect(h.get(s)?.tag).toBe(i)
          })
          for (const q of [...queries, ...puts]) {
            const got = h.get(q)
            if (got !== undefined) expect(got.sequenceNumber).toBe(q)
          }
        }
      ),
      params
    )
  })
})
