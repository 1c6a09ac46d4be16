import {
  type ClientMessage,
  CONTROL_LABEL,
  type ErrorCode,
  frame,
  PROTOCOL_VERSION,
  type ServerMessageBody,
  TOPICS_LABEL,
  TOPICS_LOSSY_LABEL
} from "../protocol/control-protocol.ts"
import type { Peer } from "../transport/transport.ts"
import { AbuseGuard } from "./abuse-guard.ts"
import type { ControlCounters } from "./control-counters.ts"
import { decodeControlFrame, decodeTopicFrame } from "./message-codec.ts"
import type { TopicRouter } from "./topic-router.ts"

/** A control message the room must handle (everything but topic subscriptions). */
export type RoomControlMessage = Exclude<ClientMessage, { readonly type: "topics" }>

export interface ControlSessionOptions {
  readonly participantId: string
  readonly peer: Pick<Peer, "sendData">
  readonly router: TopicRouter
  readonly counters: ControlCounters
  /** The room clock, in milliseconds. */
  readonly now: () => number
  /** Hands a validated message to the room without waiting; false when the room could not take it. */
  readonly submit: (message: RoomControlMessage) => boolean
  /** Tells the room the control channel opened (it then sends welcome, roster and bindings). */
  readonly opened: () => void
  /** Ends the participant (called once, for abuse). */
  readonly disconnect: () => void
}

/** A client's control messages may queue up to this many on the room at a time; more are refused. */
export const MAX_PENDING_COMMANDS = 32
/** Bad messages tolerated within ABUSE_WINDOW_MS before the participant is disconnected. */
export const ABUSE_LIMIT = 20
export const ABUSE_WINDOW_MS = 10_000
/** Control messages are few and small; a channel this far behind is not reading. */
export const CONTROL_MAX_BUFFERED_BYTES = 1024 * 1024
/** Per subscriber and channel: beyond this, topic messages for that subscriber are dropped. */
export const TOPIC_MAX_BUFFERED_BYTES = 256 * 1024

const TOPIC_DROP_REASON: Record<ErrorCode, string> = {
  "too-large": "too_large",
  "not-json": "invalid",
  "bad-version": "invalid",
  invalid: "invalid",
  "unknown-slot": "invalid",
  "unknown-track": "invalid",
  "unknown-publication": "invalid",
  "too-many-topics": "invalid",
  busy: "invalid"
}

/**
 * One participant's end of the control protocol and its data topics. Its two entry points
 * are the transport's data-channel callbacks: frames are validated there, synchronously,
 * and never throw; bad ones are answered, counted and held against the sender, whose
 * participant is disconnected past ABUSE_LIMIT. Valid control messages go to the room's
 * mailbox (the room is the one writer of bindings); topic messages go straight to the
 * room's router. The room reads and writes the delivery state below from its own fiber.
 */
export class ControlSession {
  /** The client's control channel is open. */
  controlOpen = false
  /** welcome, roster and bindings went out. */
  welcomed = false
  /** A roster message was lost (buffer full): the next update sends the full roster. */
  rosterStale = false
  /** The last bindings and speakers frames sent, to send only changes. */
  lastBindings: string | undefined
  lastSpeakers: string | undefined
  private pending = 0
  private disconnected = false
  private readonly guard = new AbuseGuard(ABUSE_LIMIT, ABUSE_WINDOW_MS)
  private readonly subscriber: { participantId: string; send: (label: string, text: string) => boolean }

  constructor(private readonly options: ControlSessionOptions) {
    this.subscriber = {
      participantId: options.participantId,
      send: (label, text) => options.peer.sendData(label, text, TOPIC_MAX_BUFFERED_BYTES)
    }
  }

  get participantId(): string {
    return this.options.participantId
  }

  onDataChannelOpen(label: string): void {
    if (label !== CONTROL_LABEL || this.controlOpen) return
    this.controlOpen = true
    this.options.opened()
  }

  onDataMessage(label: string, message: string | Uint8Array): void {
    if (this.disconnected) return
    if (label === CONTROL_LABEL) this.onControl(message)
    else if (label === TOPICS_LABEL || label === TOPICS_LOSSY_LABEL) this.onTopic(label, message)
    else {
      this.options.counters.reject("unknown_channel")
      this.strike()
    }
  }

  /** Sends one server message on the control channel; false when it could not be queued. */
  send(body: ServerMessageBody): boolean {
    const sent = this.options.peer.sendData(CONTROL_LABEL, frame(body), CONTROL_MAX_BUFFERED_BYTES)
    if (sent) this.options.counters.messagesOut++
    else this.options.counters.sendsFailed++
    return sent
  }

  /** The room finished one submitted message. */
  settled(): void {
    if (this.pending > 0) this.pending--
  }

  /** Leaves every topic; the participant is gone. */
  close(): void {
    this.disconnected = true
    this.options.router.remove(this.options.participantId)
  }

  error(code: ErrorCode, message: string, id: string | undefined): void {
    this.send(id === undefined ? { type: "error", code, message } : { type: "error", id, code, message })
  }

  private onControl(message: string | Uint8Array): void {
    const counters = this.options.counters
    const decoded = decodeControlFrame(message)
    if (!decoded.ok) {
      counters.reject(decoded.code.replaceAll("-", "_"))
      this.error(decoded.code, decoded.message, decoded.id)
      this.strike()
      return
    }
    const request = decoded.value
    counters.messagesIn++
    if (request.type === "topics") {
      if (!this.options.router.update(this.subscriber, request.subscribe, request.unsubscribe)) {
        counters.reject("too_many_topics")
        this.error("too-many-topics", "a participant may subscribe to at most 32 topics", request.id)
      }
      return
    }
    if (this.pending >= MAX_PENDING_COMMANDS || !this.options.submit(request)) {
      counters.reject("busy")
      this.error("busy", "too many requests in flight; the message was dropped", request.id)
      this.strike()
      return
    }
    this.pending++
  }

  private onTopic(label: string, message: string | Uint8Array): void {
    const decoded = decodeTopicFrame(message)
    if (!decoded.ok) {
      this.options.counters.dropTopic(TOPIC_DROP_REASON[decoded.code])
      this.strike()
      return
    }
    const { topic, data } = decoded.value
    const text = JSON.stringify({ v: PROTOCOL_VERSION, topic, from: this.options.participantId, data })
    this.options.router.route(this.options.participantId, topic, label, text)
  }

  private strike(): void {
    if (!this.guard.strike(this.options.now()) || this.disconnected) return
    this.disconnected = true
    this.options.counters.disconnects++
    this.options.router.remove(this.options.participantId)
    this.options.disconnect()
  }
}
