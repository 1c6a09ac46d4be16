import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { bitrateBetween } from "../../client/src/bitrate.ts"
import { restartDelayMs } from "../../client/src/reconnect.ts"
import {
  encodeClientMessage,
  encodeTopicMessage,
  overMessageLimit,
  parseServerFrame,
  parseTopicFrame
} from "../../client/src/wire.ts"
import {
  decodeClientMessage,
  decodeTopicPublish,
  frame,
  MAX_MESSAGE_BYTES,
  type ServerMessageBody
} from "../../src/protocol/control-protocol.ts"

const layer = { rid: "h", width: 640, height: 360, bitrateBps: 500_000 }
const serverMessages: ReadonlyArray<ServerMessageBody> = [
  {
    type: "welcome",
    participantId: "pa_1",
    room: "r",
    protocol: 1,
    mode: "auto",
    slots: [{ mid: "2", kind: "video" }]
  },
  {
    type: "roster",
    participants: [
      {
        id: "pa_1",
        name: "Ann",
        role: "participant",
        publications: [{ trackId: "pa_1:0", kind: "video", codec: "VP8", layers: [layer] }]
      }
    ]
  },
  { type: "roster-diff", joined: [], left: ["pa_2"], published: [], unpublished: ["pa_2:1"] },
  {
    type: "bindings",
    slots: [
      {
        mid: "2",
        kind: "video",
        trackId: "pa_1:0",
        participantId: "pa_1",
        paused: false,
        reason: "ok",
        layer
      },
      {
        mid: "3",
        kind: "audio",
        trackId: null,
        participantId: null,
        paused: false,
        reason: "no-track",
        layer: null
      }
    ]
  },
  { type: "speakers", speakers: [{ participantId: "pa_1", trackId: "pa_1:1", level: 0.8, speaking: true }] },
  { type: "error", id: "7", code: "unknown-slot", message: "no slot 9" }
]

describe("control frames from the server", () => {
  it("every valid message is accepted as sent", () => {
    for (const body of serverMessages) {
      const parsed = parseServerFrame(frame(body))
      expect(parsed).toEqual({ ok: true, message: { v: 1, ...body } })
    }
  })

  it("never throws, whatever arrives, and rejects with a reason", () => {
    const json = fc.jsonValue().map((v) => JSON.stringify(v))
    const tampered = fc
      .tuple(fc.constantFrom(...serverMessages), fc.string(), fc.jsonValue())
      .map(([m, key, value]) => JSON.stringify({ v: 1, ...m, [key]: value }))
    fc.assert(
      fc.property(fc.oneof(fc.string(), json, tampered, fc.anything()), (data) => {
        const parsed = parseServerFrame(data)
        if (!parsed.ok)
          expect(["binary", "too-large", "not-json", "bad-version", "invalid"]).toContain(parsed.reason)
      })
    )
  })

  it("rejects binary, oversized, non-JSON, other versions and schema violations", () => {
    const reason = (data: unknown) => {
      const parsed = parseServerFrame(data)
      return parsed.ok ? "ok" : parsed.reason
    }
    expect(reason(new Uint8Array([1]))).toBe("binary")
    expect(reason(`"${"x".repeat(MAX_MESSAGE_BYTES)}"`)).toBe("too-large")
    // 16 KiB of characters, but more bytes in UTF-8
    expect(
      reason(
        JSON.stringify({ v: 1, type: "error", code: "busy", message: "é".repeat(MAX_MESSAGE_BYTES / 2) })
      )
    ).toBe("too-large")
    expect(reason("{nope")).toBe("not-json")
    expect(reason(JSON.stringify({ v: 2, type: "speakers", speakers: [] }))).toBe("bad-version")
    expect(reason(JSON.stringify({ v: 1, type: "speakers", speakers: [{ level: 2 }] }))).toBe("invalid")
    expect(reason(JSON.stringify({ v: 1, type: "dance" }))).toBe("invalid")
  })

  it("measures the limit in UTF-8 bytes", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 7000 }), (text) => {
        expect(overMessageLimit(text)).toBe(new TextEncoder().encode(text).byteLength > MAX_MESSAGE_BYTES)
      }),
      { numRuns: 200 }
    )
  })
})

describe("messages to the server", () => {
  it("encodes what the schema accepts, with the envelope version", () => {
    const text = encodeClientMessage({
      type: "subscribe",
      mid: "3",
      trackId: "auto",
      maxHeight: 360,
      paused: false
    })
    const decoded = decodeClientMessage(JSON.parse(text))
    expect(decoded._tag).toBe("Success")
    expect(JSON.parse(text)).toEqual({
      v: 1,
      type: "subscribe",
      mid: "3",
      trackId: "auto",
      maxHeight: 360,
      paused: false
    })
  })

  it("refuses, before sending, what the protocol forbids", () => {
    expect(() => encodeClientMessage({ type: "hello", name: "x".repeat(65) })).toThrow(RangeError)
    expect(() => encodeClientMessage({ type: "subscribe", mid: "", trackId: "auto" })).toThrow(RangeError)
    expect(() =>
      encodeClientMessage({ type: "subscribe", mid: "1", trackId: "auto", maxHeight: -1 })
    ).toThrow(RangeError)
    const topics = Array.from({ length: 33 }, (_, i) => `t${i}`)
    expect(() => encodeClientMessage({ type: "topics", subscribe: topics, unsubscribe: [] })).toThrow(
      RangeError
    )
  })

  it("topic messages: any JSON data under the limit round-trips; the rest is refused", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 64 }), fc.jsonValue(), (topic, data) => {
        let text: string
        try {
          text = encodeTopicMessage(topic, data)
        } catch (error) {
          expect(error).toBeInstanceOf(RangeError)
          expect(JSON.stringify({ v: 1, topic, data }).length).toBeGreaterThan(MAX_MESSAGE_BYTES / 3)
          return
        }
        const parsed = JSON.parse(text)
        expect(decodeTopicPublish(parsed)._tag).toBe("Success")
        expect(parsed).toEqual({ v: 1, topic, data: JSON.parse(JSON.stringify(data)) })
      })
    )
    expect(() => encodeTopicMessage("", 1)).toThrow(RangeError)
    expect(() => encodeTopicMessage("t".repeat(65), 1)).toThrow(RangeError)
    expect(() => encodeTopicMessage("chat", undefined)).toThrow(RangeError)
    expect(() => encodeTopicMessage("chat", () => 1)).toThrow(RangeError)
    expect(() => encodeTopicMessage("chat", { big: "x".repeat(MAX_MESSAGE_BYTES) })).toThrow(RangeError)
    const cyclic: Record<string, unknown> = {}
    cyclic["self"] = cyclic
    expect(() => encodeTopicMessage("chat", cyclic)).toThrow(RangeError)
  })

  it("topic deliveries need a sender", () => {
    expect(
      parseTopicFrame(JSON.stringify({ v: 1, topic: "chat", from: "pa_2", data: { text: "hi" } }))
    ).toEqual({
      ok: true,
      message: { v: 1, topic: "chat", from: "pa_2", data: { text: "hi" } }
    })
    expect(parseTopicFrame(JSON.stringify({ v: 1, topic: "chat", data: 1 })).ok).toBe(false)
  })
})

describe("stats and reconnect timing", () => {
  it("bitrate is bytes over time, unknown when the readings cannot be compared", () => {
    expect(bitrateBetween(undefined, { bytes: 10, timestampMs: 1 })).toBeNull()
    expect(bitrateBetween({ bytes: 0, timestampMs: 0 }, { bytes: 125_000, timestampMs: 1000 })).toBe(
      1_000_000
    )
    expect(bitrateBetween({ bytes: 500, timestampMs: 0 }, { bytes: 100, timestampMs: 1000 })).toBeNull()
    expect(bitrateBetween({ bytes: 0, timestampMs: 5 }, { bytes: 100, timestampMs: 5 })).toBeNull()
  })

  it("restart delays start at once, never shrink, and stay bounded", () => {
    expect(restartDelayMs(0)).toBe(0)
    for (let attempt = 1; attempt < 30; attempt++) {
      expect(restartDelayMs(attempt)).toBeGreaterThanOrEqual(restartDelayMs(attempt - 1))
      expect(restartDelayMs(attempt)).toBeLessThanOrEqual(8_000)
    }
  })
})
