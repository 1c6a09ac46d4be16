import { Result } from "effect"
import {
  type ClientMessage,
  decodeClientMessage,
  decodeTopicPublish,
  type ErrorCode,
  MAX_ID_LENGTH,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  type TopicPublish
} from "../protocol/control-protocol.ts"

/**
 * Turns one data-channel frame into a validated message, or into the reason it was
 * rejected. Never throws: every frame comes straight from the network.
 */

export type Decoded<A> =
  | { readonly ok: true; readonly value: A }
  | {
      readonly ok: false
      readonly code: ErrorCode
      readonly message: string
      /** The request id, when the frame was an object that carried one. */
      readonly id: string | undefined
    }

const encoder = new TextEncoder()

/** Over the size limit in UTF-8, encoding only when the length alone does not settle it. */
const oversized = (frame: string | Uint8Array): boolean => {
  if (typeof frame !== "string") return frame.byteLength > MAX_MESSAGE_BYTES
  if (frame.length > MAX_MESSAGE_BYTES) return true
  if (frame.length * 3 <= MAX_MESSAGE_BYTES) return false
  return encoder.encode(frame).byteLength > MAX_MESSAGE_BYTES
}

const reject = (code: ErrorCode, message: string, id: string | undefined = undefined) =>
  ({ ok: false, code, message, id }) as const

const requestIdOf = (value: unknown): string | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  const id = (value as { id?: unknown }).id
  return typeof id === "string" && id.length <= MAX_ID_LENGTH ? id : undefined
}

/** The first line of a schema error, short enough for an error reply. */
const describe = (error: unknown) => String(error).split("\n")[0]!.slice(0, 200)

const parse = <A>(
  frame: string | Uint8Array,
  decode: (value: unknown) => Result.Result<A, unknown>
): Decoded<A> => {
  if (oversized(frame)) return reject("too-large", `a message may be at most ${MAX_MESSAGE_BYTES} bytes`)
  if (typeof frame !== "string") return reject("not-json", "messages are JSON text frames")
  let value: unknown
  try {
    value = JSON.parse(frame)
  } catch {
    return reject("not-json", "the message is not valid JSON")
  }
  const id = requestIdOf(value)
  if (typeof value !== "object" || value === null || (value as { v?: unknown }).v !== PROTOCOL_VERSION) {
    return reject("bad-version", `expected an object with "v": ${PROTOCOL_VERSION}`, id)
  }
  const decoded = decode(value)
  if (Result.isFailure(decoded)) return reject("invalid", describe(decoded.failure), id)
  return { ok: true, value: decoded.success }
}

export const decodeControlFrame = (frame: string | Uint8Array): Decoded<ClientMessage> =>
  parse(frame, decodeClientMessage)

export const decodeTopicFrame = (frame: string | Uint8Array): Decoded<TopicPublish> =>
  parse(frame, decodeTopicPublish)
