import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { CodecName } from "../../src/media/codec.ts"
import { frameSize } from "../../src/media/frame-size.ts"

const bytes = (...b: number[]) => Uint8Array.from(b)

describe("frameSize VP8", () => {
  // frame tag (key frame, shown, version 0), start code, 640 and 360 as 14-bit little-endian
  const key640x360 = [0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]

  it("reads 640x360 behind the descriptor Chrome sends (15-bit picture id, TL0PICIDX, TID)", () => {
    expect(frameSize("VP8", bytes(0x90, 0xe0, 0x81, 0x23, 0x07, 0x20, ...key640x360, 0x00))).toEqual({
      width: 640,
      height: 360
    })
  })

  it("reads the minimal descriptor and ignores the scaling bits", () => {
    // 0x4280: horizontal scale 1, width 640; 0xc168: vertical scale 3, height 360
    expect(frameSize("VP8", bytes(0x10, 0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x42, 0x68, 0xc1))).toEqual(
      {
        width: 640,
        height: 360
      }
    )
  })

  it("has no size for inter frames, other partitions, a wrong start code or a short packet", () => {
    expect(frameSize("VP8", bytes(0x10, 0x51, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01))).toBe(
      undefined
    )
    expect(frameSize("VP8", bytes(0x00, ...key640x360))).toBe(undefined)
    expect(frameSize("VP8", bytes(0x11, ...key640x360))).toBe(undefined)
    expect(frameSize("VP8", bytes(0x10, 0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2b, 0x80, 0x02, 0x68, 0x01))).toBe(
      undefined
    )
    expect(frameSize("VP8", bytes(0x10, ...key640x360.slice(0, 9)))).toBe(undefined)
  })
})

describe("frameSize VP9", () => {
  // Uncompressed headers of key frames (frame marker, profile bits, sync code, color config, size - 1).
  const profile0at1280x720 = [0x82, 0x49, 0x83, 0x42, 0x20, 0x4f, 0xf0, 0x2c, 0xf0]
  const profile1at640x360 = [0xa2, 0x49, 0x83, 0x42, 0x28, 0x04, 0xfe, 0x02, 0xce, 0x00]
  const profile2at320x180 = [0x92, 0x49, 0x83, 0x42, 0x10, 0x09, 0xf8, 0x05, 0x98]
  const profile3rgbAt960x540 = [0xb1, 0x24, 0xc1, 0xa1, 0x38, 0x0e, 0xfc, 0x08, 0x6c]
  const profile3at1920x1080 = [0xb1, 0x24, 0xc1, 0xa1, 0x12, 0x03, 0xbf, 0x82, 0x1b, 0x80]

  it("reads the uncompressed header of every profile", () => {
    // B set, no picture id
    expect(frameSize("VP9", bytes(0x08, ...profile0at1280x720))).toEqual({ width: 1280, height: 720 })
    expect(frameSize("VP9", bytes(0x08, ...profile1at640x360))).toEqual({ width: 640, height: 360 })
    expect(frameSize("VP9", bytes(0x08, ...profile2at320x180))).toEqual({ width: 320, height: 180 })
    expect(frameSize("VP9", bytes(0x08, ...profile3rgbAt960x540))).toEqual({ width: 960, height: 540 })
    expect(frameSize("VP9", bytes(0x08, ...profile3at1920x1080))).toEqual({ width: 1920, height: 1080 })
  })

  it("skips a 15-bit picture id and non-flexible layer indices", () => {
    expect(frameSize("VP9", bytes(0xa8, 0x81, 0x02, 0x00, 0x17, ...profile0at1280x720))).toEqual({
      width: 1280,
      height: 720
    })
  })

  it("takes the highest spatial layer's size from the scalability structure", () => {
    // I, B, V; SS: three spatial layers, Y set, G clear; 320x180, 640x360, 1280x720
    const ss = [0x50, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68, 0x05, 0x00, 0x02, 0xd0]
    expect(frameSize("VP9", bytes(0x8a, 0x05, ...ss, ...profile2at320x180))).toEqual({
      width: 1280,
      height: 720
    })
  })

  it("reads the header after a scalability structure that only describes picture groups", () => {
    // SS: one spatial layer, G set with two groups, the second with one reference
    const ss = [0x08, 0x02, 0x00, 0x24, 0x01]
    expect(frameSize("VP9", bytes(0x0a, ...ss, ...profile1at640x360))).toEqual({ width: 640, height: 360 })
  })

  it("has no size for inter frames, continuation packets or a broken sync code", () => {
    expect(frameSize("VP9", bytes(0x48, ...profile0at1280x720))).toBe(undefined)
    expect(frameSize("VP9", bytes(0x00, ...profile0at1280x720))).toBe(undefined)
    const broken = [...profile0at1280x720]
    broken[2] = 0x84
    expect(frameSize("VP9", bytes(0x08, ...broken))).toBe(undefined)
    expect(frameSize("VP9", bytes(0x08, ...profile0at1280x720.slice(0, 6)))).toBe(undefined)
  })
})

describe("frameSize H.264", () => {
  // Constrained baseline, level 3.1, 80x45 macroblocks, no cropping.
  const sps1280x720 = [0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe4]
  // x264's High profile SPS for 1080p: 120x68 macroblocks cropped by 8 lines, VUI (with emulation prevention).
  const sps1920x1080 = [
    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00,
    0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x60, 0xc6, 0x58
  ]
  const pps = [0x68, 0xce, 0x3c, 0x80]

  it("reads a single SPS NAL unit", () => {
    expect(frameSize("H264", bytes(...sps1280x720))).toEqual({ width: 1280, height: 720 })
  })

  it("applies frame cropping (1920x1080 coded as 1920x1088)", () => {
    expect(frameSize("H264", bytes(...sps1920x1080))).toEqual({ width: 1920, height: 1080 })
  })

  it("reads an IP camera's High profile SPS with VUI", () => {
    const sps = [
      0x67, 0x64, 0x00, 0x1f, 0xac, 0x34, 0xc8, 0x05, 0x00, 0x5b, 0xff, 0x01, 0x6e, 0x02, 0x02, 0x02, 0x80,
      0x00, 0x01, 0xf4, 0x00, 0x00, 0x3a, 0x98, 0x74, 0x30, 0x00, 0x4e, 0x2a, 0x00, 0x01, 0x38, 0xa8, 0x5d,
      0xe5, 0xc6, 0x86, 0x00, 0x09, 0xc5, 0x40, 0x00, 0x27, 0x15, 0x0b, 0xbc, 0xb8, 0x50
    ]
    expect(frameSize("H264", bytes(...sps))).toEqual({ width: 1280, height: 720 })
  })

  it("removes emulation prevention bytes before parsing (baseline 720x404, cropped)", () => {
    const sps = [
      0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xb4, 0x35, 0xf9, 0xe1, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00,
      0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2e, 0x48
    ]
    expect(frameSize("H264", bytes(...sps))).toEqual({ width: 720, height: 404 })
  })

  it("skips scaling lists and picture order count type 1 fields", () => {
    const sps = [
      0x67, 0x64, 0x00, 0x1e, 0xad, 0x91, 0x9a, 0x8a, 0x28, 0x41, 0xd6, 0x44, 0x90, 0x0a, 0x1c, 0x8d, 0x32,
      0x01, 0x40, 0x5f, 0xf2, 0xa0
    ]
    expect(frameSize("H264", bytes(...sps))).toEqual({ width: 640, height: 360 })
  })

  it("uses 4:4:4 crop units and field coding (High 4:4:4, interlaced 1280x720)", () => {
    const sps = [0x67, 0xf4, 0x00, 0x1f, 0x91, 0x9b, 0x40, 0x28, 0x05, 0xcf, 0x89, 0x40]
    expect(frameSize("H264", bytes(...sps))).toEqual({ width: 1280, height: 720 })
  })

  it("finds the SPS inside a STAP-A", () => {
    const stapA = [0x78, 0x00, pps.length, ...pps, 0x00, sps1280x720.length, ...sps1280x720]
    expect(frameSize("H264", bytes(...stapA))).toEqual({ width: 1280, height: 720 })
  })

  it("reads the SPS at the start of an FU-A", () => {
    const fuA = [0x7c, 0x80 | 0x07, ...sps1920x1080.slice(1)]
    expect(frameSize("H264", bytes(...fuA))).toEqual({ width: 1920, height: 1080 })
    const middle = [0x7c, 0x07, ...sps1920x1080.slice(1)]
    expect(frameSize("H264", bytes(...middle))).toBe(undefined)
  })

  it("has no size for an IDR slice, a PPS, or a truncated SPS", () => {
    expect(frameSize("H264", bytes(0x65, 0x88, 0x84, 0x00))).toBe(undefined)
    expect(frameSize("H264", bytes(...pps))).toBe(undefined)
    expect(frameSize("H264", bytes(...sps1280x720.slice(0, 6)))).toBe(undefined)
    expect(frameSize("H264", bytes(0x78, 0x00, 0x40, ...sps1280x720))).toBe(undefined)
  })
})

describe("frameSize AV1", () => {
  // Sequence header OBU payloads: 1280x720 in 11/10 bits; 1920x1080 with timing, decoder model and two operating points.
  const seq1280x720 = [0x00, 0x00, 0x00, 0x42, 0xa6, 0x7f, 0xd9, 0xe2]
  const seq1920x1080 = [
    0x04, 0x00, 0x00, 0x00, 0x04, 0x00, 0x05, 0x7e, 0x43, 0xa4, 0x00, 0x00, 0x00, 0x07, 0xff, 0x84, 0x40,
    0x50, 0x80, 0xa0, 0x32, 0x62, 0x02, 0x84, 0x05, 0x01, 0x93, 0xaa, 0xef, 0xf0, 0xdc, 0x40
  ]
  const OBU_SEQUENCE_HEADER = 0x08
  const OBU_TEMPORAL_DELIMITER = 0x10
  const OBU_FRAME = 0x30

  it("reads a sequence header that is the packet's only OBU element (W=1)", () => {
    expect(frameSize("AV1", bytes(0x18, OBU_SEQUENCE_HEADER, ...seq1280x720))).toEqual({
      width: 1280,
      height: 720
    })
  })

  it("walks length-prefixed elements and parses timing and decoder model info", () => {
    const packet = [
      0x08,
      1,
      OBU_TEMPORAL_DELIMITER,
      seq1920x1080.length + 1,
      OBU_SEQUENCE_HEADER,
      ...seq1920x1080,
      3,
      OBU_FRAME,
      0xaa,
      0xbb
    ]
    expect(frameSize("AV1", bytes(...packet))).toEqual({ width: 1920, height: 1080 })
  })

  it("honours the OBU extension byte and an OBU size field", () => {
    const obu = [OBU_SEQUENCE_HEADER | 0x04 | 0x02, 0x00, seq1280x720.length, ...seq1280x720]
    expect(frameSize("AV1", bytes(0x28, 0x02, 0xde, 0xad, ...obu))).toEqual({ width: 1280, height: 720 })
  })

  it("skips an element that continues the previous packet's OBU", () => {
    // Z set: the first element is a fragment, even when its bytes look like a sequence header.
    const fragment = [OBU_SEQUENCE_HEADER, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
    expect(
      frameSize("AV1", bytes(0xa0, fragment.length, ...fragment, OBU_SEQUENCE_HEADER, ...seq1280x720))
    ).toEqual({ width: 1280, height: 720 })
    expect(frameSize("AV1", bytes(0x90, OBU_SEQUENCE_HEADER, ...seq1280x720))).toBe(undefined)
  })

  it("has no size without a sequence header or when a length runs past the packet", () => {
    expect(frameSize("AV1", bytes(0x10, OBU_FRAME, 0x01, 0x02))).toBe(undefined)
    expect(frameSize("AV1", bytes(0x08, 0x40, OBU_SEQUENCE_HEADER, ...seq1280x720))).toBe(undefined)
    expect(frameSize("AV1", bytes(0x18, OBU_SEQUENCE_HEADER, ...seq1280x720.slice(0, 5)))).toBe(undefined)
  })
})

describe("frameSize on hostile input", () => {
  const codecs: CodecName[] = ["VP8", "VP9", "H264", "AV1", "opus"]
  const valid: Array<[CodecName, number[]]> = [
    ["VP8", [0x90, 0xe0, 0x81, 0x23, 0x07, 0x20, 0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]],
    ["VP9", [0x8a, 0x05, 0x50, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68, 0x05, 0x00, 0x02, 0xd0]],
    ["H264", [0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44]],
    ["AV1", [0x18, 0x08, 0x00, 0x00, 0x00, 0x42, 0xa6, 0x7f, 0xd9, 0xe2]]
  ]

  it("never throws on arbitrary bytes, and any size it reports is plausible", () => {
    fc.assert(
      fc.property(fc.constantFrom(...codecs), fc.uint8Array({ maxLength: 64 }), (codec, payload) => {
        const size = frameSize(codec, payload)
        if (size !== undefined) {
          expect(size.width).toBeGreaterThan(0)
          expect(size.height).toBeGreaterThan(0)
          expect(size.width).toBeLessThanOrEqual(16384)
          expect(size.height).toBeLessThanOrEqual(16384)
        }
      }),
      { seed: 11, numRuns: 5000 }
    )
  })

  it("a truncated keyframe header yields nothing or the full header's size, never another", () => {
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.nat(), ([codec, full], cut) => {
        const whole = frameSize(codec, bytes(...full))
        expect(whole).toBeDefined()
        const part = frameSize(codec, bytes(...full.slice(0, cut % full.length)))
        if (part !== undefined) expect(part).toEqual(whole)
      }),
      { seed: 12, numRuns: 500 }
    )
  })

  it("a flipped bit never throws and never yields an implausible size", () => {
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.nat(), ([codec, full], bit) => {
        const mutated = bytes(...full)
        const index = (bit >> 3) % mutated.length
        mutated[index] = mutated[index]! ^ (1 << (bit & 7))
        const size = frameSize(codec, mutated)
        if (size !== undefined) {
          expect(Number.isInteger(size.width) && size.width > 0 && size.width <= 16384).toBe(true)
          expect(Number.isInteger(size.height) && size.height > 0 && size.height <= 16384).toBe(true)
        }
      }),
      { seed: 13, numRuns: 2000 }
    )
  })
})
