import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { AbuseGuard } from "../../src/control/abuse-guard.ts"
import { decodeControlFrame, decodeTopicFrame } from "../../src/control/message-codec.ts"
import { MAX_MESSAGE_BYTES } from "../../src/protocol/control-protocol.ts"

describe("control message codec", () => {
  it("never throws, whatever arrives", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), fc.json()),
        (frame) => {
          const control = decodeControlFrame(frame)
          const topic = decodeTopicFrame(frame)
          expect(typeof control.ok).toBe("boolean")
          expect(typeof topic.ok).toBe("boolean")
        }
      ),
      { seed: 31, numRuns: 500 }
    )
  })

  it("tells apart oversized, non-JSON, wrong-version and invalid frames, keeping the request id", () => {
    const code = (frame: string | Uint8Array) => {
      const d = decodeControlFrame(frame)
      return d.ok ? "ok" : [d.code, d.id ?? null]
    }
    expect(code(JSON.stringify({ v: 1, type: "hello", name: "a" }))).toBe("ok")
    expect(code("{")).toEqual(["not-json", null])
    expect(code(new Uint8Array([123, 125]))).toEqual(["not-json", null])
    expect(code(JSON.stringify({ v: 2, type: "hello", name: "a", id: "q" }))).toEqual(["bad-version", "q"])
    expect(code("[1]")).toEqual(["bad-version", null])
    expect(code(JSON.stringify({ v: 1, type: "hello", id: "q" }))).toEqual(["invalid", "q"])
    expect(
      code(JSON.stringify({ v: 1, type: "hello", name: "a", pad: "x".repeat(MAX_MESSAGE_BYTES) }))
    ).toEqual(["too-large", null])
  })

  it("measures the limit in UTF-8 bytes, not characters", () => {
    const message = (name: string) =>
      JSON.stringify({ v: 1, type: "topics", subscribe: [], unsubscribe: [], name })
    const overhead = message("").length
    // "é" is two bytes in UTF-8: just under the limit in characters, over it in bytes
    const wide = message("é".repeat(Math.ceil((MAX_MESSAGE_BYTES - overhead) / 2) + 1))
    expect(wide.length).toBeLessThan(MAX_MESSAGE_BYTES)
    expect(decodeControlFrame(wide)).toMatchObject({ ok: false, code: "too-large" })
    const fits = message("a".repeat(MAX_MESSAGE_BYTES - overhead))
    expect(decodeControlFrame(fits).ok).toBe(true)
  })

  it("accepts topic messages with any JSON data", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (data) => {
        const decoded = decodeTopicFrame(JSON.stringify({ v: 1, topic: "chat", data }))
        expect(decoded.ok).toBe(true)
      }),
      { seed: 32, numRuns: 200 }
    )
  })
})

describe("abuse guard", () => {
  it("trips only when more than the limit fall within the window", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 80 }), (gaps) => {
        const guard = new AbuseGuard(20, 10_000)
        const times: number[] = []
        let now = 0
        for (const gap of gaps) {
          now += gap
          times.push(now)
          const tripped = guard.strike(now)
          const inWindow = times.filter((t) => now - t < 10_000).length
          expect(tripped).toBe(inWindow > 20)
        }
      }),
      { seed: 33, numRuns: 300 }
    )
  })
})
