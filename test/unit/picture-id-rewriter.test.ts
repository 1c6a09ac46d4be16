import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { PictureIdRewriter } from "../../src/media/picture-id-rewriter.ts"

/** A VP8 payload with a 15-bit picture ID and TL0PICIDX (RFC 7741 §4.2). */
const vp8 = (pictureId: number, tl0: number, start: boolean) =>
  Uint8Array.of(
    0x80 | (start ? 0x10 : 0),
    0xc0,
    0x80 | (pictureId >> 8),
    pictureId & 0xff,
    tl0,
    0x9d,
    0x01,
    0x2a
  )

const readVp8 = (p: Uint8Array) => ({ pictureId: ((p[2]! & 0x7f) << 8) | p[3]!, tl0: p[4]! })

/** A VP9 payload (non-flexible) with a 15-bit picture ID, layer indices and TL0PICIDX. */
const vp9 = (pictureId: number, tl0: number) =>
  Uint8Array.of(0x80 | 0x20 | 0x08, 0x80 | (pictureId >> 8), pictureId & 0xff, 0x00, tl0, 0xaa)

const readVp9 = (p: Uint8Array) => ({ pictureId: ((p[1]! & 0x7f) << 8) | p[2]!, tl0: p[4]! })

const source = fc.record({
  pictureStart: fc.oneof(fc.integer({ min: 0, max: 0x7fff }), fc.integer({ min: 0x7ff0, max: 0x7fff })),
  tl0Start: fc.integer({ min: 0, max: 255 }),
  frames: fc.integer({ min: 1, max: 40 })
})

describe("picture ID rewriting", () => {
  for (const [codec, make, read] of [
    ["VP8", (id: number, tl0: number) => vp8(id, tl0, true), readVp8],
    ["VP9", vp9, readVp9]
  ] as const) {
    it(`${codec}: picture IDs and TL0PICIDX continue across any sequence of sources, inputs untouched`, () => {
      fc.assert(
        fc.property(fc.array(source, { minLength: 1, maxLength: 6 }), (sources) => {
          const rewriter = new PictureIdRewriter()
          const out: Array<{ pictureId: number; tl0: number }> = []
          for (const s of sources) {
            rewriter.switchSource()
            for (let f = 0; f < s.frames; f++) {
              const input = make((s.pictureStart + f) & 0x7fff, (s.tl0Start + f) & 0xff)
              const before = Uint8Array.from(input)
              // two packets of the same frame get the same numbers
              const a = read(rewriter.rewrite(codec, input))
              const b = read(rewriter.rewrite(codec, input))
              expect(b).toEqual(a)
              expect(input).toEqual(before)
              out.push(a)
            }
          }
          for (let i = 1; i < out.length; i++) {
            expect(out[i]!.pictureId).toBe((out[i - 1]!.pictureId + 1) & 0x7fff)
            expect(out[i]!.tl0).toBe((out[i - 1]!.tl0 + 1) & 0xff)
          }
          expect(out[0]).toEqual({ pictureId: sources[0]!.pictureStart, tl0: sources[0]!.tl0Start })
        }),
        { seed: 11, numRuns: 300 }
      )
    })
  }

  it("returns the very same payload while the first source's numbering is unchanged", () => {
    const rewriter = new PictureIdRewriter()
    const payload = vp8(1234, 7, true)
    expect(rewriter.rewrite("VP8", payload)).toBe(payload)
  })

  it("leaves descriptors without picture IDs, and truncated ones, alone", () => {
    const rewriter = new PictureIdRewriter()
    for (const payload of [
      Uint8Array.of(0x10, 0x00),
      Uint8Array.of(0x90),
      Uint8Array.of(0x90, 0x80),
      new Uint8Array()
    ]) {
      expect(rewriter.rewrite("VP8", payload)).toBe(payload)
    }
  })
})
