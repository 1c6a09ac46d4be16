import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  parseTransportFeedback,
  serializeTransportFeedback,
  type TransportFeedback,
  toSigned24
} from "../../src/media/twcc-feedback.ts"

const params = { seed: 7, numRuns: 400 }

/** Statuses in runs, so long runs (run-length chunks) and mixed stretches (vectors) both occur. */
const deltasArb = fc
  .array(
    fc.record({
      kind: fc.constantFrom("lost", "small", "large", "negative", "mixed"),
      length: fc.integer({ min: 1, max: 40 })
    }),
    { minLength: 1, maxLength: 30 }
  )
  .chain((runs) =>
    fc.tuple(
      ...runs.map(({ kind, length }) => {
        const one =
          kind === "lost"
            ? fc.constant(undefined)
            : kind === "small"
              ? fc.integer({ min: 0, max: 255 })
              : kind === "large"
                ? fc.integer({ min: 256, max: 0x7fff })
                : kind === "negative"
                  ? fc.integer({ min: -0x8000, max: -1 })
                  : fc.option(fc.integer({ min: -0x8000, max: 0x7fff }), { nil: undefined })
        return fc.array(one, { minLength: length, maxLength: length })
      })
    )
  )
  .map((runs) => runs.flat())

const feedbackArb: fc.Arbitrary<TransportFeedback> = fc.record({
  senderSsrc: fc.integer({ min: 0, max: 0xffffffff }),
  mediaSsrc: fc.integer({ min: 0, max: 0xffffffff }),
  baseSequenceNumber: fc.integer({ min: 0, max: 0xffff }),
  referenceTime: fc.integer({ min: -0x800000, max: 0x7fffff }),
  feedbackCount: fc.integer({ min: 0, max: 0xff }),
  deltas: deltasArb
})

describe("transport-wide feedback codec", () => {
  it("round-trips any arrival pattern, in whole 32-bit words", () => {
    fc.assert(
      fc.property(feedbackArb, (feedback) => {
        const bytes = serializeTransportFeedback(feedback)
        expect(bytes.length % 4).toBe(0)
        expect(((bytes[2]! << 8) | bytes[3]!) + 1).toBe(bytes.length / 4)
        const padded = (bytes[0]! & 0x20) !== 0
        if (padded) expect(bytes[bytes.length - 1]).toBeGreaterThan(0)
        const parsed = parseTransportFeedback(bytes)
        expect(parsed).toEqual({ ok: true, feedback })
      }),
      params
    )
  })

  it("round-trips a long run across the 16-bit wrap of the base sequence number", () => {
    const deltas = [
      ...Array.from({ length: 9000 }, () => 1),
      undefined,
      ...Array.from({ length: 20 }, () => 2)
    ]
    const feedback: TransportFeedback = {
      senderSsrc: 1,
      mediaSsrc: 2,
      baseSequenceNumber: 0xfff0,
      referenceTime: -1,
      feedbackCount: 255,
      deltas
    }
    expect(parseTransportFeedback(serializeTransportFeedback(feedback))).toEqual({ ok: true, feedback })
  })

  it("matches a hand-checked byte vector", () => {
    const bytes = serializeTransportFeedback({
      senderSsrc: 1,
      mediaSsrc: 2,
      baseSequenceNumber: 0xfffe,
      referenceTime: 16,
      feedbackCount: 0xff,
      deltas: [4, undefined, 300]
    })
    // V=2 P=1 FMT=15, PT=205, length 6 words; SSRCs; base 0xfffe, 3 statuses; reference 16,
    // count 255; one 2-bit vector (small, lost, large); deltas 4 and 300; 3 bytes of padding.
    expect([...bytes]).toEqual([
      0xaf, 0xcd, 0x00, 0x06, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x00, 0x03, 0x00, 0x00, 0x10, 0xff, 0xd2,
      0x00, 0x04, 0x01, 0x2c, 0x00, 0x00, 0x03
    ])
  })

  it("reads run-length and 1-bit vector chunks written by another encoder", () => {
    // Run of 3 small deltas, then a 1-bit vector (received, lost, received, 11 unused).
    const bytes = new Uint8Array([
      0x8f, 0xcd, 0x00, 0x06, 0, 0, 0, 9, 0, 0, 0, 8, 0x00, 0x0a, 0x00, 0x06, 0xff, 0xff, 0xff, 0x01, 0x20,
      0x03, 0xa8, 0x00, 1, 2, 3, 4, 5, 0, 0, 0
    ])
    bytes[3] = bytes.length / 4 - 1
    const parsed = parseTransportFeedback(bytes)
    expect(parsed).toEqual({
      ok: true,
      feedback: {
        senderSsrc: 9,
        mediaSsrc: 8,
        baseSequenceNumber: 10,
        referenceTime: -1,
        feedbackCount: 1,
        deltas: [1, 2, 3, 4, undefined, 5]
      }
    })
  })

  it("never throws on arbitrary bytes, and accepts only what re-serializes to the same feedback", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 120 }), fc.boolean(), (raw, shapeHeader) => {
        const bytes = Uint8Array.from(raw)
        if (shapeHeader && bytes.length >= 4) {
          bytes[0] = 0x80 | (bytes[0]! & 0x20) | 15
          bytes[1] = 205
          bytes[2] = 0
          bytes[3] = Math.floor(bytes.length / 4) - 1
        }
        const parsed = parseTransportFeedback(bytes)
        if (parsed.ok) {
          const again = parseTransportFeedback(serializeTransportFeedback(parsed.feedback))
          expect(again).toEqual(parsed)
        }
      }),
      { seed: 11, numRuns: 3000 }
    )
  })

  it("rejects truncations, a wrong length field, bad padding and reserved symbols", () => {
    const good = serializeTransportFeedback({
      senderSsrc: 1,
      mediaSsrc: 2,
      baseSequenceNumber: 5,
      referenceTime: 0,
      feedbackCount: 0,
      deltas: [1, 1000, undefined, 3, -4, 200]
    })
    expect(parseTransportFeedback(good).ok).toBe(true)
    for (let cut = 0; cut < good.length; cut += 4) {
      expect(parseTransportFeedback(good.subarray(0, cut)).ok).toBe(false)
    }
    const wrongLength = Uint8Array.from(good)
    wrongLength[3] = wrongLength[3]! + 1
    expect(parseTransportFeedback(wrongLength).ok).toBe(false)
    const badPadding = Uint8Array.from(good)
    badPadding[0] = badPadding[0]! | 0x20
    badPadding[badPadding.length - 1] = 0
    expect(parseTransportFeedback(badPadding).ok).toBe(false)
    const reserved = Uint8Array.from(good)
    reserved[20] = 0x60 // run-length chunk of symbol 3
    expect(parseTransportFeedback(reserved).ok).toBe(false)
    const empty = Uint8Array.from(good)
    empty[14] = 0
    empty[15] = 0
    expect(parseTransportFeedback(empty).ok).toBe(false)
    // A werift-style feedback: 33 bytes while its length field says 32.
    const unpadded = new Uint8Array(33)
    unpadded.set([0x8f, 205, 0, 7])
    expect(parseTransportFeedback(unpadded).ok).toBe(false)
  })

  it("sign-extends 24-bit values", () => {
    expect(toSigned24(0xffffff)).toBe(-1)
    expect(toSigned24(0x7fffff)).toBe(0x7fffff)
    expect(toSigned24(0x800000)).toBe(-0x800000)
    expect(toSigned24(0x1000005)).toBe(5)
  })
})
