import {
  type ClientMessage,
  type ClientMessageBody,
  decodeClientMessage,
  decodeServerMessage,
  decodeTopicDelivery,
  decodeTopicPublish,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  type ServerMessage,
  type TopicDelivery
} from "../../src/protocol/control-protocol.ts"

/** Why an incoming frame was rejected. */
export type RejectReason = "binary" | "too-large" | "not-json" | "bad-version" | "invalid"

export type Parsed<A> =
  | { readonly ok: true; readonly message: A }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string }

const encoder = new TextEncoder()

/** Whether a frame's UTF-8 encoding is over the protocol's limit (encodes only when it may be). */
export const overMessageLimit = (text: string): boolean =>
  text.length > MAX_MESSAGE_BYTES ||
  (text.length * 3 > MAX_MESSAGE_BYTES && encoder.encode(text).byteLength > MAX_MESSAGE_BYTES)

const reject = (reason: RejectReason, detail: string) => ({ ok: false, reason, detail }) as const

const parseFrame = <A>(
  data: unknown,
  decode: (
    input: unknown
  ) =>
    | { readonly _tag: "Success"; readonly success: A }
    | { readonly _tag: "Failure"; readonly failure: unknown }
): Parsed<A> => {
  if (typeof data !== "string") return reject("binary", "frames must be JSON text")
  if (overMessageLimit(data)) return reject("too-large", `frame over ${MAX_MESSAGE_BYTES} bytes`)
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch {
    return reject("not-json", "frame is not JSON")
  }
  if (typeof json !== "object" || json === null || (json as { v?: unknown }).v !== PROTOCOL_VERSION) {
    return reject("bad-version", `frame is not protocol version ${PROTOCOL_VERSION}`)
  }
  const result = decode(json)
  return result._tag === "Success"
    ? { ok: true, message: result.success }
    : reject("invalid", String(result.failure))
}

/** A frame from `prism/control`, validated against the protocol's schemas. Never throws. */
export const parseServerFrame = (data: unknown): Parsed<ServerMessage> =>
  parseFrame(data, decodeServerMessage)

/** A frame from a topic channel, validated. Never throws. */
export const parseTopicFrame = (data: unknown): Parsed<TopicDelivery> => parseFrame(data, decodeTopicDelivery)

/**
 * A control message ready to send. Throws a `RangeError` naming the problem when the message
 * breaks the protocol (a name too long, too many topics...): that is the caller's mistake,
 * found before anything goes on the wire.
 */
export const encodeClientMessage = (body: ClientMessageBody): string => {
  const message = { v: PROTOCOL_VERSION, ...body } as ClientMessage
  const result = decodeClientMessage(message)
  if (result._tag === "Failure")
    throw new RangeError(`invalid ${body.type} message: ${String(result.failure)}`)
  const text = JSON.stringify(message)
  if (overMessageLimit(text)) throw new RangeError(`${body.type} message over ${MAX_MESSAGE_BYTES} bytes`)
  return text
}

/** A topic message ready to send; throws a `RangeError` for a bad topic name, data JSON cannot carry, or size. */
export const encodeTopicMessage = (topic: string, data: unknown): string => {
  const message = { v: PROTOCOL_VERSION, topic, data }
  const result = decodeTopicPublish(message)
  if (result._tag === "Failure") throw new RangeError(`invalid topic message: ${String(result.failure)}`)
  let dataText: string | undefined
  try {
    dataText = JSON.stringify(data)
  } catch (error) {
    throw new RangeError(`topic data is not JSON-serialisable: ${String(error)}`)
  }
  if (dataText === undefined) throw new RangeError("topic data is not JSON-serialisable")
  const text = `{"v":${PROTOCOL_VERSION},"topic":${JSON.stringify(topic)},"data":${dataText}}`
  if (overMessageLimit(text)) throw new RangeError(`topic message over ${MAX_MESSAGE_BYTES} bytes`)
  return text
}
