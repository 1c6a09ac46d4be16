import { describe, expect, it } from "vitest"
import { clockRateOf, codecFromMimeType, isVideoCodec } from "../../src/media/codec.ts"

describe("codecFromMimeType", () => {
  it("maps known MIME types case-insensitively", () => {
    expect(codecFromMimeType("video/VP8")).toBe("VP8")
    expect(codecFromMimeType("video/vp9")).toBe("VP9")
    expect(codecFromMimeType("VIDEO/H264")).toBe("H264")
    expect(codecFromMimeType("video/AV1")).toBe("AV1")
    expect(codecFromMimeType("video/AV1X")).toBe("AV1")
    expect(codecFromMimeType("audio/opus")).toBe("opus")
    expect(codecFromMimeType("audio/OPUS")).toBe("opus")
  })

  it("returns undefined for anything else", () => {
    expect(codecFromMimeType("video/rtx")).toBeUndefined()
    expect(codecFromMimeType("audio/PCMU")).toBeUndefined()
    expect(codecFromMimeType("vp8")).toBeUndefined()
    expect(codecFromMimeType("")).toBeUndefined()
  })

  it("knows media kind and clock rate", () => {
    expect(isVideoCodec("VP8")).toBe(true)
    expect(isVideoCodec("opus")).toBe(false)
    expect(clockRateOf("opus")).toBe(48_000)
    expect(clockRateOf("H264")).toBe(90_000)
  })
})
