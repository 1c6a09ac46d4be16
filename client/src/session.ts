import {
  type ClientMessageBody,
  MAX_MESSAGE_BYTES,
  type ServerMessage
} from "../../src/protocol/control-protocol.ts"
import { type ByteSample, bitrateBetween } from "./bitrate.ts"
import { Emitter } from "./emitter.ts"
import { iceGathered } from "./ice-gathering.ts"
import { DISCONNECTED_GRACE_MS, MAX_RESTART_ATTEMPTS, restartDelayMs, restartRetryable } from "./reconnect.ts"
import { applyRosterChange, emptyRoster, type Roster, rosterFromSnapshot } from "./roster.ts"
import { deleteParticipant, patchOffer, type SignalingOptions } from "./signaling.ts"
import type {
  BindingMode,
  LocalPublication,
  SessionError,
  SessionEvents,
  SessionState,
  SlotStats,
  SlotTrack,
  SubscribeOptions,
  Welcome
} from "./types.ts"
import { encodeClientMessage, encodeTopicMessage, parseServerFrame, parseTopicFrame } from "./wire.ts"

/** Control messages asked for before the channel opened wait here, up to this many. */
const MAX_PENDING_CONTROL = 256
/** A reliable topic message is refused while the channel has this much unsent. */
const RELIABLE_TOPIC_BUFFER_BYTES = 1024 * 1024
/** A lossy topic message is dropped while the channel has this much unsent: stale state is worthless. */
const LOSSY_TOPIC_BUFFER_BYTES = 4 * MAX_MESSAGE_BYTES

/** Everything `join` set up, handed to the session it returns. */
export interface SessionParts {
  readonly pc: RTCPeerConnection
  readonly control: RTCDataChannel
  readonly topics: RTCDataChannel
  readonly topicsLossy: RTCDataChannel
  readonly location: string
  readonly participantId: string
  readonly etag: string | null
  readonly localStream: MediaStream
  readonly publications: ReadonlyArray<LocalPublication>
  readonly slots: ReadonlyArray<SlotTrack>
  /** Tracks the SDK captured itself, stopped on leave (tracks the caller passed in are not). */
  readonly ownedTracks: ReadonlyArray<MediaStreamTrack>
  readonly signaling: SignalingOptions
  readonly iceGatheringTimeoutMs: number
  /** Control messages to send first, once the channel opens (name, mode, topics). */
  readonly greeting: ReadonlyArray<ClientMessageBody>
}

/**
 * A joined room: one peer connection to the SFU carrying this client's own tracks, its
 * receive slots and the control and topic data channels. Create one with `join`.
 */
export class Session {
  /** This client's id in the room (from the participant's URL; the server's `welcome` agrees). */
  readonly participantId: string
  /** The participant resource: PATCH restarts ICE, DELETE leaves. */
  readonly location: string
  /** This client's published tracks, for a self view. */
  readonly localStream: MediaStream
  readonly publications: ReadonlyArray<LocalPublication>
  readonly slots: ReadonlyArray<SlotTrack>
  /** The underlying connection, for `getStats` and anything the SDK does not wrap. */
  readonly peerConnection: RTCPeerConnection
  /** Frames from the server the SDK rejected, and topic messages it could not send. */
  readonly counters = { rejectedFrames: 0, droppedTopicMessages: 0, iceRestarts: 0 }

  readonly #events = new Emitter<SessionEvents>(
    ["state", "welcome", "roster", "bindings", "speakers", "track"],
    (error) =>
      setTimeout(() => {
        throw error
      })
  )
  readonly #parts: SessionParts
  readonly #pendingControl: Array<string> = []
  readonly #byteSamples = new Map<string, ByteSample>()
  readonly #cleanups: Array<() => void> = []
  #state: SessionState = "connecting"
  #roster: Roster = emptyRoster
  #etag: string | null
  #restarting = false
  #restartsSinceConnected = 0
  #disconnectedTimer: ReturnType<typeof setTimeout> | undefined
  #closed = false

  /** @internal Sessions come from `join`. */
  constructor(parts: SessionParts) {
    this.#parts = parts
    this.participantId = parts.participantId
    this.location = parts.location
    this.localStream = parts.localStream
    this.publications = parts.publications
    this.slots = parts.slots
    this.peerConnection = parts.pc
    this.#etag = parts.etag
    for (const body of parts.greeting) this.#sendControl(body)
    this.#wireChannels()
    this.#wireConnection()
    for (const slot of parts.slots) this.#events.emit("track", slot, slot.mid)
    this.#events.emit("state", this.#state)
  }

  get state(): SessionState {
    return this.#state
  }

  /** The room's participants (this client included) in join order, as the server last described them. */
  get roster(): Roster {
    return this.#roster
  }

  on<K extends keyof SessionEvents>(event: K, listener: (value: SessionEvents[K]) => void): () => void {
    return this.#events.on(event, listener)
  }

  off<K extends keyof SessionEvents>(event: K, listener: (value: SessionEvents[K]) => void): void {
    this.#events.off(event, listener)
  }

  /** Asks for `trackId` (or the server's choice, `"auto"`) on slot `mid`, with size and priority preferences. */
  subscribe(mid: string, trackId: string, options: SubscribeOptions = {}): void {
    this.#sendControl({ type: "subscribe", mid, trackId, ...options })
  }

  /** `manual`: only `subscribe` intents bind slots; `auto` (the default): the server fills them. */
  setMode(mode: BindingMode): void {
    this.#sendControl({ type: "mode", mode })
  }

  /** These audio tracks keep audio slots whatever their level; an empty list removes the pins. */
  pinAudio(trackIds: ReadonlyArray<string>): void {
    this.#sendControl({ type: "pin-audio", trackIds: [...trackIds] })
  }

  /** Offer one of this client's own m-lines (see `publications`) to the room again. */
  publish(mid: string): void {
    this.#sendControl({ type: "publish", mid })
  }

  /** Withdraw one of this client's own m-lines from the room; it vanishes from rosters and bindings. */
  unpublish(mid: string): void {
    this.#sendControl({ type: "unpublish", mid })
  }

  /** Receive these topics (and stop receiving `unsubscribe`). */
  subscribeTopics(subscribe: ReadonlyArray<string>, unsubscribe: ReadonlyArray<string> = []): void {
    this.#sendControl({ type: "topics", subscribe: [...subscribe], unsubscribe: [...unsubscribe] })
  }

  /**
   * Sends `data` (anything JSON can carry) to every other participant subscribed to `topic`.
   * `reliable` (default): ordered and retransmitted, for chat. Otherwise unordered and never
   * retransmitted, for state that the next message replaces. False when it could not be sent
   * (not connected yet, or too much is still queued); throws a `RangeError` for an invalid
   * topic name, data JSON cannot carry, or a message over 16 KiB.
   */
  publishTopic(topic: string, data: unknown, options: { readonly reliable?: boolean } = {}): boolean {
    const reliable = options.reliable ?? true
    const text = encodeTopicMessage(topic, data)
    const channel = reliable ? this.#parts.topics : this.#parts.topicsLossy
    const limit = reliable ? RELIABLE_TOPIC_BUFFER_BYTES : LOSSY_TOPIC_BUFFER_BYTES
    if (this.#closed || channel.readyState !== "open" || channel.bufferedAmount > limit) {
      this.counters.droppedTopicMessages++
      return false
    }
    if (this.#sendOn(channel, text)) return true
    this.counters.droppedTopicMessages++
    return false
  }

  /** What each slot received since the previous call: bitrate, frame size and rate, losses. */
  async slotStats(): Promise<ReadonlyArray<SlotStats>> {
    return Promise.all(
      this.slots.map(async (slot): Promise<SlotStats> => {
        let inbound: RTCInboundRtpStreamStats | undefined
        for (const report of (await slot.receiver.getStats()).values()) {
          if (report.type === "inbound-rtp") inbound = report as RTCInboundRtpStreamStats
        }
        const sample = { bytes: inbound?.bytesReceived ?? 0, timestampMs: inbound?.timestamp ?? 0 }
        const bitrateBps =
          inbound === undefined ? null : bitrateBetween(this.#byteSamples.get(slot.mid), sample)
        if (inbound !== undefined) this.#byteSamples.set(slot.mid, sample)
        return {
          mid: slot.mid,
          kind: slot.kind,
          bitrateBps,
          bytesReceived: sample.bytes,
          packetsLost: inbound?.packetsLost ?? 0,
          frameWidth: inbound?.frameWidth ?? null,
          frameHeight: inbound?.frameHeight ?? null,
          framesPerSecond: inbound?.framesPerSecond ?? null
        }
      })
    )
  }

  /**
   * Restarts ICE now: a new offer with fresh credentials, sent with `PATCH` to the
   * participant's URL. The SDK does this by itself when the connection drops or the network
   * changes; call it after a change the browser cannot see.
   */
  restartIce(): Promise<void> {
    return this.#restart()
  }

  /** Leaves the room: tells the server, closes the connection, stops the tracks the SDK captured. */
  async leave(): Promise<void> {
    if (this.#closed) return
    this.#close("closed")
    await deleteParticipant(this.location, this.#parts.signaling).catch(() => undefined)
  }

  // ─── control channel ───────────────────────────────────────────────────────────────────────

  #sendControl(body: ClientMessageBody): void {
    const text = encodeClientMessage(body)
    if (this.#closed) return
    const channel = this.#parts.control
    if (channel.readyState === "open") this.#sendOn(channel, text)
    else if (this.#pendingControl.length < MAX_PENDING_CONTROL) this.#pendingControl.push(text)
  }

  /** Sends one frame; a channel that closed under us just loses it (the connection is going). */
  #sendOn(channel: RTCDataChannel, text: string): boolean {
    try {
      channel.send(text)
      return true
    } catch {
      return false
    }
  }

  #wireChannels(): void {
    const { control, topics, topicsLossy } = this.#parts
    const flush = () => {
      for (const text of this.#pendingControl.splice(0)) this.#sendOn(control, text)
    }
    if (control.readyState === "open") flush()
    control.addEventListener("open", flush)
    control.addEventListener("message", (event) => this.#onControlFrame(event.data))
    for (const [channel, reliable] of [
      [topics, true],
      [topicsLossy, false]
    ] as const) {
      channel.addEventListener("message", (event) => this.#onTopicFrame(event.data, reliable))
    }
  }

  #reject(code: string, message: string): void {
    this.counters.rejectedFrames++
    this.#events.emit("error", { source: "client", code, message })
  }

  #onControlFrame(data: unknown): void {
    if (this.#closed) return
    const parsed = parseServerFrame(data)
    if (!parsed.ok) {
      this.#reject(`control-${parsed.reason}`, parsed.detail)
      return
    }
    this.#onServerMessage(parsed.message)
  }

  #onServerMessage(message: ServerMessage): void {
    switch (message.type) {
      case "welcome": {
        const welcome: Welcome = {
          participantId: message.participantId,
          room: message.room,
          mode: message.mode,
          slots: message.slots
        }
        this.#events.emit("welcome", welcome)
        return
      }
      case "roster":
        this.#roster = rosterFromSnapshot(message.participants)
        this.#events.emit("roster", this.#roster)
        return
      case "roster-diff":
        this.#roster = applyRosterChange(this.#roster, message)
        this.#events.emit("roster", this.#roster)
        return
      case "bindings":
        this.#events.emit("bindings", message.slots)
        return
      case "speakers":
        this.#events.emit("speakers", message.speakers)
        return
      case "error": {
        const error: SessionError = {
          source: "server",
          code: message.code,
          message: message.message,
          ...(message.id === undefined ? {} : { id: message.id })
        }
        this.#events.emit("error", error)
        return
      }
    }
  }

  #onTopicFrame(data: unknown, reliable: boolean): void {
    if (this.#closed) return
    const parsed = parseTopicFrame(data)
    if (!parsed.ok) {
      this.#reject(`topic-${parsed.reason}`, parsed.detail)
      return
    }
    const { topic, from, data: payload } = parsed.message
    this.#events.emit("topic", { topic, from, data: payload, reliable })
  }

  // ─── connection and ICE restarts ───────────────────────────────────────────────────────────

  #setState(state: SessionState): void {
    if (this.#state === state) return
    this.#state = state
    this.#events.emit("state", state)
  }

  #wireConnection(): void {
    const pc = this.#parts.pc
    const onConnectionState = () => {
      if (this.#closed) return
      if (pc.connectionState === "connected") {
        this.#restartsSinceConnected = 0
        if (!this.#restarting) this.#setState("connected")
      } else if (pc.connectionState === "failed") {
        void this.#restart()
      }
    }
    const onIceState = () => {
      if (this.#closed) return
      const state = pc.iceConnectionState
      clearTimeout(this.#disconnectedTimer)
      if (state === "disconnected") {
        this.#disconnectedTimer = setTimeout(() => {
          if (pc.iceConnectionState === "disconnected") void this.#restart()
        }, DISCONNECTED_GRACE_MS)
      } else if (state === "failed") {
        void this.#restart()
      }
    }
    // A new network (Wi-Fi to cellular, a VPN coming up) invalidates the candidate pair.
    const onNetworkChange = () => {
      if (!this.#closed && this.#state !== "connecting") void this.#restart()
    }
    pc.addEventListener("connectionstatechange", onConnectionState)
    pc.addEventListener("iceconnectionstatechange", onIceState)
    globalThis.addEventListener?.("online", onNetworkChange)
    const connection = (globalThis.navigator as { connection?: EventTarget } | undefined)?.connection
    connection?.addEventListener?.("change", onNetworkChange)
    this.#cleanups.push(
      () => globalThis.removeEventListener?.("online", onNetworkChange),
      () => connection?.removeEventListener?.("change", onNetworkChange)
    )
  }

  async #restart(): Promise<void> {
    if (this.#closed || this.#restarting) return
    this.#restarting = true
    this.#setState("reconnecting")
    try {
      for (;;) {
        if (this.#restartsSinceConnected >= MAX_RESTART_ATTEMPTS) {
          this.#close("failed")
          return
        }
        await sleep(restartDelayMs(this.#restartsSinceConnected))
        if (this.#closed) return
        this.#restartsSinceConnected++
        this.counters.iceRestarts++
        try {
          await this.#renegotiate()
          return
        } catch (error) {
          if (this.#closed) return
          if (!restartRetryable(error)) {
            this.#events.emit("error", {
              source: "client",
              code: "ice-restart-refused",
              message: String(error)
            })
            this.#close("failed")
            return
          }
          this.#events.emit("error", { source: "client", code: "ice-restart-failed", message: String(error) })
        }
      }
    } finally {
      this.#restarting = false
      if (!this.#closed && this.#parts.pc.connectionState === "connected") this.#setState("connected")
    }
  }

  async #renegotiate(): Promise<void> {
    const pc = this.#parts.pc
    if (pc.signalingState !== "stable") await pc.setLocalDescription({ type: "rollback" })
    pc.restartIce()
    await pc.setLocalDescription()
    await iceGathered(pc, this.#parts.iceGatheringTimeoutMs)
    const offer = pc.localDescription?.sdp
    if (offer === undefined) throw new Error("no local description after createOffer")
    const { answer, etag } = await patchOffer(this.location, this.#etag, offer, this.#parts.signaling)
    if (this.#closed) return
    this.#etag = etag
    await pc.setRemoteDescription({ type: "answer", sdp: answer })
  }

  #close(state: "closed" | "failed"): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#disconnectedTimer)
    for (const cleanup of this.#cleanups.splice(0)) cleanup()
    for (const channel of [this.#parts.control, this.#parts.topics, this.#parts.topicsLossy]) channel.close()
    this.#parts.pc.close()
    for (const track of this.#parts.ownedTracks) track.stop()
    // A session that gave up may still exist on the server until its timeout: end it now.
    if (state === "failed")
      void deleteParticipant(this.location, this.#parts.signaling).catch(() => undefined)
    this.#setState(state)
  }
}

const sleep = (ms: number) =>
  ms <= 0 ? Promise.resolve() : new Promise<void>((resolve) => setTimeout(resolve, ms))
