import type {
  ErrorCode,
  Participant,
  Publication,
  SlotBinding,
  Speaker
} from "../../src/protocol/control-protocol.ts"
import type { Roster } from "./roster.ts"
import type { SignalingOptions } from "./signaling.ts"

export type { Participant, Publication, Roster, SlotBinding, Speaker }

export type MediaKind = "audio" | "video"
export type BindingMode = "auto" | "manual"

/** What to send: `true` captures the default device, a track sends that track. */
export interface PublishOptions {
  readonly video?: boolean | MediaStreamTrack
  readonly audio?: boolean | MediaStreamTrack
  /** Send video as three layers, rids `q`/`h`/`f` at 1/4, 1/2 and full resolution. */
  readonly simulcast?: boolean
}

export interface JoinOptions extends SignalingOptions {
  /** Display name shown in everyone's roster (at most 64 characters). */
  readonly name?: string
  readonly publish?: PublishOptions
  /** How many remote videos and voices this client can show and play at once. */
  readonly slots: { readonly video: number; readonly audio: number }
  /** Data topics to receive from the start. */
  readonly topics?: ReadonlyArray<string>
  /** `manual`: only this client's `subscribe` calls put tracks on slots. Default `auto`. */
  readonly mode?: BindingMode
  readonly rtcConfiguration?: RTCConfiguration
  /** How long to wait for ICE candidates before sending an offer anyway. Default 1000 ms. */
  readonly iceGatheringTimeoutMs?: number
}

/** Connection state of a session, as its `state` event reports it. */
export type SessionState = "connecting" | "connected" | "reconnecting" | "failed" | "closed"

/** The server's greeting on the control channel. */
export interface Welcome {
  readonly participantId: string
  readonly room: string
  readonly mode: BindingMode
  readonly slots: ReadonlyArray<{ readonly mid: string; readonly kind: MediaKind }>
}

/** A receive slot: a recvonly m-line whose track shows whichever remote track is bound to it. */
export interface SlotTrack {
  readonly mid: string
  readonly kind: MediaKind
  readonly track: MediaStreamTrack
  readonly receiver: RTCRtpReceiver
}

/** One of this client's own sendonly m-lines. */
export interface LocalPublication {
  readonly mid: string
  readonly kind: MediaKind
  readonly track: MediaStreamTrack
  readonly sender: RTCRtpSender
}

export interface TopicMessage {
  readonly topic: string
  /** The publisher's participant id. */
  readonly from: string
  readonly data: unknown
  readonly reliable: boolean
}

/**
 * Something went wrong that the session survived. `server`: an `error` reply on the control
 * channel (`id` is the request's). `client`: a frame from the server that the SDK rejected,
 * or an ICE restart attempt that failed and will be retried.
 */
export type SessionError =
  | { readonly source: "server"; readonly code: ErrorCode; readonly message: string; readonly id?: string }
  | { readonly source: "client"; readonly code: string; readonly message: string }

export interface SubscribeOptions {
  readonly maxHeight?: number
  readonly minHeight?: number
  /** Higher is served first when bandwidth is short; 0 by default. */
  readonly priority?: number
  readonly paused?: boolean
}

/** What a slot received lately, from `getStats`. */
export interface SlotStats {
  readonly mid: string
  readonly kind: MediaKind
  /** Received bits per second since the previous `slotStats()` call; null on the first. */
  readonly bitrateBps: number | null
  readonly bytesReceived: number
  readonly packetsLost: number
  readonly frameWidth: number | null
  readonly frameHeight: number | null
  readonly framesPerSecond: number | null
}

/** Events of a `Session`. Sticky ones (`state`, `welcome`, `roster`, `bindings`, `speakers`, `track`) replay their latest value to a new listener. */
export type SessionEvents = {
  readonly state: SessionState
  readonly welcome: Welcome
  readonly roster: Roster
  readonly bindings: ReadonlyArray<SlotBinding>
  readonly speakers: ReadonlyArray<Speaker>
  /** Once per slot, when its track is ready to attach to a media element. */
  readonly track: SlotTrack
  readonly topic: TopicMessage
  readonly error: SessionError
}
