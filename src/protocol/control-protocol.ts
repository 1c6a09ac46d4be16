import { Schema } from "effect"

/**
 * Prism's data-channel control protocol, version 1: the one definition both the server and
 * the browser SDK validate with. Every message is one JSON text frame of at most
 * `MAX_MESSAGE_BYTES`, shaped `{ "v": 1, "type": ..., ... }`. No Node imports here: the SDK
 * bundles this file. See docs/api.md for the prose and examples.
 */

export const PROTOCOL_VERSION = 1
export const MAX_MESSAGE_BYTES = 16 * 1024
export const CONTROL_LABEL = "prism/control"
/** Ordered, reliable topic messages (chat-like). */
export const TOPICS_LABEL = "prism/topics"
/** Unordered, `maxRetransmits: 0` topic messages (real-time state). */
export const TOPICS_LOSSY_LABEL = "prism/topics-lossy"
export const MAX_NAME_LENGTH = 64
export const MAX_TOPIC_NAME_LENGTH = 64
export const MAX_TOPICS_PER_PARTICIPANT = 32
/** Bounds on identifiers and lists, so that no valid message is unreasonably expensive to handle. */
export const MAX_ID_LENGTH = 128
export const MAX_PINS = 32

const Version = Schema.Literal(PROTOCOL_VERSION)
const Id = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(MAX_ID_LENGTH))
const RequestId = Schema.optionalKey(Schema.String.check(Schema.isMaxLength(MAX_ID_LENGTH)))
const Kind = Schema.Literals(["audio", "video"])
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Height = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 16384 }))
const TopicName = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(MAX_TOPIC_NAME_LENGTH))

// ─── Shared shapes ───────────────────────────────────────────────────────────────────────────

export const Layer = Schema.Struct({
  rid: Schema.NullOr(Schema.String),
  width: Schema.NullOr(NonNegativeInt),
  height: Schema.NullOr(NonNegativeInt),
  bitrateBps: Schema.NullOr(Schema.Finite)
})
export type Layer = typeof Layer.Type

export const Publication = Schema.Struct({
  trackId: Id,
  kind: Kind,
  codec: Schema.String,
  layers: Schema.Array(Layer)
})
export type Publication = typeof Publication.Type

export const ParticipantRole = Schema.Literals(["participant", "whip", "whep"])
export type ParticipantRole = typeof ParticipantRole.Type

export const Participant = Schema.Struct({
  id: Id,
  name: Schema.NullOr(Schema.String),
  role: ParticipantRole,
  publications: Schema.Array(Publication)
})
export type Participant = typeof Participant.Type

export const BindingReason = Schema.Literals(["ok", "no-track", "bandwidth", "client", "no-layers"])
export type BindingReason = typeof BindingReason.Type

export const SlotBinding = Schema.Struct({
  mid: Schema.String,
  kind: Kind,
  trackId: Schema.NullOr(Schema.String),
  participantId: Schema.NullOr(Schema.String),
  paused: Schema.Boolean,
  reason: BindingReason,
  layer: Schema.NullOr(Layer)
})
export type SlotBinding = typeof SlotBinding.Type

export const Speaker = Schema.Struct({
  participantId: Schema.String,
  trackId: Schema.String,
  /** 0..1, 1 = loudest. */
  level: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 })),
  speaking: Schema.Boolean
})
export type Speaker = typeof Speaker.Type

export const ErrorCode = Schema.Literals([
  /** Over MAX_MESSAGE_BYTES. */
  "too-large",
  /** Not a JSON text frame. */
  "not-json",
  /** `v` is not PROTOCOL_VERSION. */
  "bad-version",
  /** Valid JSON that does not match any message schema. */
  "invalid",
  /** The message names a slot (mid) this participant does not have. */
  "unknown-slot",
  /** The message names a track the room does not have, or one of the wrong kind. */
  "unknown-track",
  /** `publish`/`unpublish` of an m-line that is not one of this participant's publications. */
  "unknown-publication",
  "too-many-topics",
  /** The room is too busy to take the message; it was dropped. Retry later. */
  "busy"
])
export type ErrorCode = typeof ErrorCode.Type

// ─── Server → client ─────────────────────────────────────────────────────────────────────────

export const Welcome = Schema.Struct({
  v: Version,
  type: Schema.Literal("welcome"),
  participantId: Schema.String,
  room: Schema.String,
  protocol: Version,
  mode: Schema.Literals(["auto", "manual"]),
  slots: Schema.Array(Schema.Struct({ mid: Schema.String, kind: Kind }))
})

export const Roster = Schema.Struct({
  v: Version,
  type: Schema.Literal("roster"),
  participants: Schema.Array(Participant)
})

export const RosterDiff = Schema.Struct({
  v: Version,
  type: Schema.Literal("roster-diff"),
  joined: Schema.Array(Participant),
  left: Schema.Array(Schema.String),
  published: Schema.Array(Schema.Struct({ participantId: Schema.String, publication: Publication })),
  unpublished: Schema.Array(Schema.String),
  updated: Schema.optionalKey(Schema.Array(Participant))
})

export const Bindings = Schema.Struct({
  v: Version,
  type: Schema.Literal("bindings"),
  slots: Schema.Array(SlotBinding)
})

export const Speakers = Schema.Struct({
  v: Version,
  type: Schema.Literal("speakers"),
  speakers: Schema.Array(Speaker)
})

export const ErrorMessage = Schema.Struct({
  v: Version,
  type: Schema.Literal("error"),
  id: RequestId,
  code: ErrorCode,
  message: Schema.String
})

export const ServerMessage = Schema.Union([Welcome, Roster, RosterDiff, Bindings, Speakers, ErrorMessage])
export type ServerMessage = typeof ServerMessage.Type

// ─── Client → server ─────────────────────────────────────────────────────────────────────────

export const Hello = Schema.Struct({
  v: Version,
  type: Schema.Literal("hello"),
  id: RequestId,
  name: Schema.String.check(Schema.isMaxLength(MAX_NAME_LENGTH))
})

export const Subscribe = Schema.Struct({
  v: Version,
  type: Schema.Literal("subscribe"),
  id: RequestId,
  mid: Id,
  /** A track id, or "auto" to let the server choose. */
  trackId: Id,
  maxHeight: Schema.optionalKey(Height),
  minHeight: Schema.optionalKey(Height),
  /** Higher first when bandwidth is short; 0 by default. */
  priority: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: -1000, maximum: 1000 }))),
  paused: Schema.optionalKey(Schema.Boolean)
})

export const Mode = Schema.Struct({
  v: Version,
  type: Schema.Literal("mode"),
  id: RequestId,
  mode: Schema.Literals(["auto", "manual"])
})

export const PinAudio = Schema.Struct({
  v: Version,
  type: Schema.Literal("pin-audio"),
  id: RequestId,
  trackIds: Schema.Array(Id).check(Schema.isMaxLength(MAX_PINS))
})

export const Publish = Schema.Struct({
  v: Version,
  type: Schema.Literal("publish"),
  id: RequestId,
  mid: Id
})

export const Unpublish = Schema.Struct({
  v: Version,
  type: Schema.Literal("unpublish"),
  id: RequestId,
  mid: Id
})

export const Topics = Schema.Struct({
  v: Version,
  type: Schema.Literal("topics"),
  id: RequestId,
  subscribe: Schema.Array(TopicName).check(Schema.isMaxLength(MAX_TOPICS_PER_PARTICIPANT)),
  unsubscribe: Schema.Array(TopicName).check(Schema.isMaxLength(MAX_TOPICS_PER_PARTICIPANT))
})

export const ClientMessage = Schema.Union([Hello, Subscribe, Mode, PinAudio, Publish, Unpublish, Topics])
export type ClientMessage = typeof ClientMessage.Type

// ─── Data topics (on TOPICS_LABEL and TOPICS_LOSSY_LABEL) ────────────────────────────────────

/** What a client sends on a topic channel. */
export const TopicPublish = Schema.Struct({
  v: Version,
  topic: TopicName,
  data: Schema.Unknown
})
export type TopicPublish = typeof TopicPublish.Type

/** What a subscriber receives: the publisher's message with its participant id. */
export const TopicDelivery = Schema.Struct({
  v: Version,
  topic: TopicName,
  from: Schema.String,
  data: Schema.Unknown
})
export type TopicDelivery = typeof TopicDelivery.Type

// ─── Helpers for both ends ───────────────────────────────────────────────────────────────────

export const decodeClientMessage = Schema.decodeUnknownResult(ClientMessage)
export const decodeServerMessage = Schema.decodeUnknownResult(ServerMessage)
export const decodeTopicPublish = Schema.decodeUnknownResult(TopicPublish)
export const decodeTopicDelivery = Schema.decodeUnknownResult(TopicDelivery)

/** Messages as written, without the envelope fields `v` (always PROTOCOL_VERSION). */
type Body<M> = M extends unknown ? Omit<M, "v"> : never
export type ServerMessageBody = Body<ServerMessage>
export type ClientMessageBody = Body<ClientMessage>

/** One frame, ready for `send`: the envelope's version added to the body. */
export const frame = (body: ServerMessageBody | ClientMessageBody): string =>
  JSON.stringify({ v: PROTOCOL_VERSION, ...body })
