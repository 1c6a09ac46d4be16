import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  type ClientMessage,
  decodeClientMessage,
  decodeServerMessage,
  decodeTopicPublish,
  frame,
  MAX_NAME_LENGTH,
  MAX_TOPICS_PER_PARTICIPANT,
  PROTOCOL_VERSION,
  type ServerMessageBody
} from "../../src/protocol/control-protocol.ts"

const id = fc.string({ minLength: 1, maxLength: 20 })
const maybeRequestId = fc.option(id, { nil: undefined })
const withRequestId = <T extends object>(message: T, requestId: string | undefined) =>
  requestId === undefined ? message : { ...message, id: requestId }

/** Every kind of valid client message. */
const validClientMessage: fc.Arbitrary<ClientMessage> = fc.oneof(
  fc
    .tuple(fc.string({ maxLength: MAX_NAME_LENGTH }), maybeRequestId)
    .map(([name, rid]) => withRequestId({ v: 1 as const, type: "hello" as const, name }, rid)),
  fc
    .record(
      {
        mid: id,
        trackId: fc.oneof(id, fc.constant("auto")),
        maxHeight: fc.integer({ min: 0, max: 4320 }),
        minHeight: fc.integer({ min: 0, max: 4320 }),
        priority: fc.integer({ min: -10, max: 10 }),
        paused: fc.boolean()
      },
      { requiredKeys: ["mid", "trackId"] }
    )
    .map((r) => ({ v: 1 as const, type: "subscribe" as const, ...r })),
  fc
    .constantFrom("auto" as const, "manual" as const)
    .map((mode) => ({ v: 1 as const, type: "mode" as const, mode })),
  fc.array(id, { maxLength: 8 }).map((trackIds) => ({ v: 1 as const, type: "pin-audio" as const, trackIds })),
  fc
    .tuple(fc.constantFrom("publish" as const, "unpublish" as const), id)
    .map(([type, mid]) => ({ v: 1 as const, type, mid })),
  fc
    .tuple(
      fc.array(fc.string({ minLength: 1, maxLength: 64 }), { maxLength: MAX_TOPICS_PER_PARTICIPANT }),
      fc.array(fc.string({ minLength: 1, maxLength: 64 }), { maxLength: MAX_TOPICS_PER_PARTICIPANT })
    )
    .map(([subscribe, unsubscribe]) => ({ v: 1 as const, type: "topics" as const, subscribe, unsubscribe }))
)

describe("control protocol schemas", () => {
  it("accepts every well-formed client message and returns it unchanged", () => {
    fc.assert(
      fc.property(validClientMessage, (message) => {
        const decoded = decodeClientMessage(JSON.parse(JSON.stringify(message)))
        expect(Result.isSuccess(decoded)).toBe(true)
        if (Result.isSuccess(decoded)) expect(decoded.success).toEqual(message)
      }),
      { seed: 5, numRuns: 300 }
    )
  })

  it("rejects a valid message once any envelope field is wrong", () => {
    const wrongVersion = fc.oneof(
      fc.integer().filter((n) => n !== PROTOCOL_VERSION),
      fc.constant("1"),
      fc.constant(null)
    )
    fc.assert(
      fc.property(validClientMessage, wrongVersion, (message, v) => {
        expect(Result.isFailure(decodeClientMessage({ ...message, v }))).toBe(true)
        const { v: _dropped, ...withoutVersion } = message
        expect(Result.isFailure(decodeClientMessage(withoutVersion))).toBe(true)
        expect(Result.isFailure(decodeClientMessage({ ...message, type: `${message.type}x` }))).toBe(true)
      }),
      { seed: 6, numRuns: 200 }
    )
  })

  it("rejects arbitrary JSON values that are not messages", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const looksLikeMessage =
          typeof value === "object" &&
          value !== null &&
          !Array.isArray(value) &&
          "type" in value &&
          "v" in value
        fc.pre(!looksLikeMessage)
        expect(Result.isFailure(decodeClientMessage(value))).toBe(true)
      }),
      { seed: 7, numRuns: 300 }
    )
  })

  it("enforces the documented bounds", () => {
    const bad: unknown[] = [
      { v: 1, type: "hello", name: "x".repeat(MAX_NAME_LENGTH + 1) },
      { v: 1, type: "subscribe", mid: "1", trackId: "auto", maxHeight: 360.5 },
      { v: 1, type: "subscribe", mid: "1", trackId: "auto", maxHeight: -1 },
      { v: 1, type: "subscribe", mid: "1", trackId: "" },
      { v: 1, type: "subscribe", mid: "1", trackId: "auto", paused: "yes" },
      { v: 1, type: "mode", mode: "both" },
      { v: 1, type: "topics", subscribe: ["x".repeat(65)], unsubscribe: [] },
      { v: 1, type: "topics", subscribe: [""], unsubscribe: [] },
      {
        v: 1,
        type: "topics",
        subscribe: Array.from({ length: MAX_TOPICS_PER_PARTICIPANT + 1 }, (_, i) => `t${i}`),
        unsubscribe: []
      },
      { v: 1, type: "pin-audio", trackIds: "a" },
      { v: 1, type: "publish" },
      { v: 1, type: "hello", name: "ok", id: 5 }
    ]
    for (const message of bad)
      expect(Result.isFailure(decodeClientMessage(message)), JSON.stringify(message)).toBe(true)
  })

  it("topic messages need a topic name and carry any JSON data", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 64 }), fc.jsonValue(), (topic, data) => {
        expect(Result.isSuccess(decodeTopicPublish({ v: 1, topic, data }))).toBe(true)
      }),
      { seed: 8, numRuns: 200 }
    )
    expect(Result.isFailure(decodeTopicPublish({ v: 1, topic: "", data: 1 }))).toBe(true)
    expect(Result.isFailure(decodeTopicPublish({ v: 2, topic: "chat", data: 1 }))).toBe(true)
  })

  it("frames server messages that the same schemas accept", () => {
    const bodies: ServerMessageBody[] = [
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
            name: null,
            role: "participant",
            publications: [
              {
                trackId: "pa_1:0",
                kind: "video",
                codec: "VP8",
                layers: [{ rid: "h", width: null, height: null, bitrateBps: 500000 }]
              }
            ]
          }
        ]
      },
      { type: "roster-diff", joined: [], left: ["pa_2"], published: [], unpublished: ["pa_2:0"] },
      {
        type: "bindings",
        slots: [
          {
            mid: "2",
            kind: "video",
            trackId: null,
            participantId: null,
            paused: false,
            reason: "no-track",
            layer: null
          }
        ]
      },
      {
        type: "speakers",
        speakers: [{ participantId: "pa_1", trackId: "pa_1:1", level: 0.5, speaking: true }]
      },
      { type: "error", id: "7", code: "invalid", message: "no" }
    ]
    for (const body of bodies) {
      const decoded = decodeServerMessage(JSON.parse(frame(body)))
      expect(Result.isSuccess(decoded), body.type).toBe(true)
    }
  })
})
