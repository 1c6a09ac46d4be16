import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { isKeyframe } from "../../src/media/keyframe.ts"
import { decodePayload, encodePayload, HEADER_BYTES, readVp8KeyframeSize } from "./payload.ts"

const info = fc.record({
  origin: fc.integer({ min: 0, max: 0xffff }),
  session: fc.integer({ min: 0, max: 0xffff }),
  track: fc.integer({ min: 0, max: 255 }),
  layer: fc.integer({ min: 0, max: 255 }),
  frame: fc.integer({ min: 0, max: 0xffffffff }),
  index: fc.integer({ min: 0, max: 0xffff }),
  count: fc.integer({ min: 1, max: 0xffff }),
  useq: fc.integer({ min: 0, max: 0xffffffff }),
  keyframe: fc.boolean()
})

describe("simulated payloads", () => {
  it("carry who sent them, and a VP8 header the server's parsers read like real traffic", () => {
    fc.assert(
      fc.property(
        info,
        fc.integer({ min: 0, max: 1200 }),
        fc.record({
          width: fc.integer({ min: 1, max: 0x3fff }),
          height: fc.integer({ min: 1, max: 0x3fff })
        }),
        (sent, size, frameSize) => {
          const payload = encodePayload(sent, size, true, frameSize)
          expect(payload.byteLength).toBe(Math.max(HEADER_BYTES, size))
          expect(decodePayload(payload)).toEqual(sent)
          const startsKeyframe = sent.keyframe && sent.index === 0
          expect(isKeyframe("VP8", payload)).toBe(startsKeyframe)
          expect(readVp8KeyframeSize(payload)).toEqual(startsKeyframe ? frameSize : undefined)
        }
      )
    )
  })
})
