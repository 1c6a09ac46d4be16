/**
 * Prism's browser SDK: join a room on a Prism SFU, publish camera and microphone (optionally
 * as simulcast), receive other participants on a fixed number of slots, follow the roster,
 * slot bindings and active speakers over the control channel, and exchange data on topics.
 */
export { join, MAX_SLOTS_PER_KIND, SIMULCAST_ENCODINGS } from "./join.ts"
export { publisherOf, type Roster } from "./roster.ts"
export { Session } from "./session.ts"
export { SignalingError, type SignalingOptions } from "./signaling.ts"
export type {
  BindingMode,
  JoinOptions,
  LocalPublication,
  MediaKind,
  Participant,
  Publication,
  PublishOptions,
  SessionError,
  SessionEvents,
  SessionState,
  SlotBinding,
  SlotStats,
  SlotTrack,
  Speaker,
  SubscribeOptions,
  TopicMessage,
  Welcome
} from "./types.ts"
