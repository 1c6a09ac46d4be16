import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { CodecName } from "../../src/media/codec.ts"
import { isKeyframe } from "../../src/media/keyframe.ts"

const bytes = (...b: number[]) => Uint8Array.from(b)
const codecs: CodecName[] = ["VP8", "VP9", "H264", "AV1", "opus"]

describe("isKeyframe VP8", () => {
  // VP8 payload header byte: bit0 P is 0 on key frames.
  const keyHeader = [0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a]
  const deltaHeader = [0x51, 0x02, 0x00]

  it("detects a key frame with the minimal descriptor", () => {
    expect(isKeyframe("VP8", bytes(0x10, ...keyHeader))).toBe(true)
    expect(isKeyframe("VP8", bytes(0x10, ...deltaHeader))).toBe(false)
  })

  it("requires start of partition and partition index 0", () => {
    expect(isKeyframe("VP8", bytes(0x00, ...keyHeader))).toBe(false)
    expect(isKeyframe("VP8", bytes(0x11, ...keyHeader))).toBe(false)
  })

  it("skips a 7-bit picture id", () => {
    expect(isKeyframe("VP8", bytes(0x90, 0x80, 0x05, ...keyHeader))).toBe(true)
    expect(isKeyframe("VP8", bytes(0x90, 0x80, 0x04, ...deltaHeader))).toBe(false)
  })

  it("skips a 15-bit picture id", () => {
    // 0x23 has bit0 set, so reading it as the payload header would say "not a key frame".
    expect(isKeyframe("VP8", bytes(0x90, 0x80, 0x81, 0x23, ...keyHeader))).toBe(true)
    // 0x22 has bit0 clear, so misreading it would wrongly say "key frame".
    expect(isKeyframe("VP8", bytes(0x90, 0x80, 0x81, 0x22, ...deltaHeader))).toBe(false)
  })

  it("skips TL0PICIDX and TID/KEYIDX bytes", () => {
    expect(isKeyframe("VP8", bytes(0x90, 0xf0, 0x92, 0x34, 0x07, 0x41, ...keyHeader))).toBe(true)
    expect(isKeyframe("VP8", bytes(0x90, 0x60, 0x07, 0x41, ...keyHeader))).toBe(true)
    expect(isKeyframe("VP8", bytes(0x90, 0x10, 0x41, ...keyHeader))).toBe(true)
    expect(isKeyframe("VP8", bytes(0x90, 0xf0, 0x92, 0x34, 0x06, 0x40, ...deltaHeader))).toBe(false)
  })

  it("rejects truncated descriptors", () => {
    expect(isKeyframe("VP8", bytes())).toBe(false)
    expect(isKeyframe("VP8", bytes(0x10))).toBe(false)
    expect(isKeyframe("VP8", bytes(0x90))).toBe(false)
    expect(isKeyframe("VP8", bytes(0x90, 0x80))).toBe(false)
    expect(isKeyframe("VP8", bytes(0x90, 0x80, 0x81, 0x22))).toBe(false)
  })
})

describe("isKeyframe VP9", () => {
  it("detects a non-inter-predicted beginning of frame", () => {
    expect(isKeyframe("VP9", bytes(0x08, 0x82))).toBe(true)
    expect(isKeyframe("VP9", bytes(0x0c, 0x82))).toBe(true)
  })

  it("rejects inter-predicted frames and non-beginning packets", () => {
    expect(isKeyframe("VP9", bytes(0x48, 0x82))).toBe(false)
    expect(isKeyframe("VP9", bytes(0x04, 0x82))).toBe(false)
    expect(isKeyframe("VP9", bytes(0x00, 0x82))).toBe(false)
  })

  it("reads the spatial id after a 15-bit picture id", () => {
    // Non-flexible: I L B, PictureID 0x8002, layer byte SID=0, TL0PICIDX.
    expect(isKeyframe("VP9", bytes(0xa8, 0x80, 0x02, 0x00, 0x00, 0x82))).toBe(true)
    expect(isKeyframe("VP9", bytes(0xa8, 0x80, 0x00, 0x02, 0x00, 0x82))).toBe(false)
  })

  it("only counts spatial layer 0 as the start", () => {
    expect(isKeyframe("VP9", bytes(0xa8, 0x05, 0x00, 0x01, 0x82))).toBe(true)
    expect(isKeyframe("VP9", bytes(0xa8, 0x05, 0x02, 0x01, 0x82))).toBe(false)
    expect(isKeyframe("VP9", bytes(0xa8, 0x05, 0x04, 0x01, 0x82))).toBe(false)
    // Flexible mode has no TL0PICIDX.
    expect(isKeyframe("VP9", bytes(0xb8, 0x05, 0x20, 0x82))).toBe(true)
    expect(isKeyframe("VP9", bytes(0xb8, 0x05, 0x23, 0x82))).toBe(false)
  })

  it("rejects truncated descriptors", () => {
    expect(isKeyframe("VP9", bytes())).toBe(false)
    expect(isKeyframe("VP9", bytes(0xa8))).toBe(false)
    expect(isKeyframe("VP9", bytes(0xa8, 0x05))).toBe(false)
    expect(isKeyframe("VP9", bytes(0xa8, 0x05, 0x00))).toBe(false)
    expect(isKeyframe("VP9", bytes(0x88, 0x80))).toBe(false)
  })
})

describe("isKeyframe H264", () => {
  it("detects single IDR and SPS NAL units", () => {
    expect(isKeyframe("H264", bytes(0x65, 0x88, 0x84))).toBe(true)
    expect(isKeyframe("H264", bytes(0x67, 0x42, 0x00, 0x1f))).toBe(true)
  })

  it("rejects other single NAL units", () => {
    expect(isKeyframe("H264", bytes(0x41, 0x9a))).toBe(false)
    expect(isKeyframe("H264", bytes(0x68, 0xce))).toBe(false)
    expect(isKeyframe("H264", bytes(0x06, 0x05))).toBe(false)
  })

  it("looks inside STAP-A", () => {
    // SPS + PPS, as sent before an IDR.
    expect(isKeyframe("H264", bytes(0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce))).toBe(true)
    // SEI + IDR: the key NAL unit is the second aggregated one.
    expect(isKeyframe("H264", bytes(0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x02, 0x65, 0x88))).toBe(true)
    // SEI whose body contains 0x65 bytes + PPS: no key NAL unit header.
    expect(isKeyframe("H264", bytes(0x78, 0x00, 0x03, 0x06, 0x65, 0x65, 0x00, 0x02, 0x68, 0xce))).toBe(false)
    expect(isKeyframe("H264", bytes(0x78))).toBe(false)
    expect(isKeyframe("H264", bytes(0x78, 0x00, 0x02))).toBe(false)
    expect(isKeyframe("H264", bytes(0x78, 0x00, 0x00, 0x65))).toBe(false)
  })

  it("detects the start of a fragmented IDR only", () => {
    expect(isKeyframe("H264", bytes(0x7c, 0x85, 0x88))).toBe(true)
    expect(isKeyframe("H264", bytes(0x7c, 0x87, 0x42))).toBe(true)
    expect(isKeyframe("H264", bytes(0x7c, 0x05, 0x88))).toBe(false)
    expect(isKeyframe("H264", bytes(0x7c, 0x45, 0x88))).toBe(false)
    expect(isKeyframe("H264", bytes(0x7c, 0x81, 0x9a))).toBe(false)
    expect(isKeyframe("H264", bytes(0x7c))).toBe(false)
  })
})

describe("isKeyframe AV1 and opus", () => {
  it("uses the aggregation header N bit", () => {
    expect(isKeyframe("AV1", bytes(0x08, 0x0a))).toBe(true)
    expect(isKeyframe("AV1", bytes(0x18, 0x0a))).toBe(true)
    expect(isKeyframe("AV1", bytes(0x10, 0x0a))).toBe(false)
    expect(isKeyframe("AV1", bytes(0xc0, 0x0a))).toBe(false)
    expect(isKeyframe("AV1", bytes())).toBe(false)
  })

  it("never reports opus as a key frame", () => {
    expect(isKeyframe("opus", bytes(0x08))).toBe(false)
    expect(isKeyframe("opus", bytes(0x65))).toBe(false)
  })
})

describe("isKeyframe on arbitrary bytes", () => {
  const params = { seed: 42, numRuns: 2000 }

  it("never throws and always returns a boolean", () => {
    fc.assert(
      fc.property(fc.constantFrom(...codecs), fc.uint8Array({ maxLength: 64 }), (codec, payload) => {
        expect(typeof isKeyframe(codec, payload)).toBe("boolean")
      }),
      params
    )
  })

  it("is false for VP8 packets that do not start partition 0", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 32 }), (payload) => {
        fc.pre((payload[0]! & 0x17) !== 0x10)
        expect(isKeyframe("VP8", payload)).toBe(false)
      }),
      params
    )
  })

  it("is false for VP9 inter-predicted or non-beginning packets", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 32 }), (payload) => {
        fc.pre((payload[0]! & 0x48) !== 0x08)
        expect(isKeyframe("VP9", payload)).toBe(false)
      }),
      params
    )
  })

  it("matches the N bit for AV1", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 16 }), (payload) => {
        expect(isKeyframe("AV1", payload)).toBe((payload[0]! & 0x08) !== 0)
      }),
      params
    )
  })
})
