import type { Rng } from "../engine/rng.ts"
import type { World } from "../engine/world.ts"
import { encodePayload } from "../media/payload.ts"
import type { UpPacket } from "../network/packets.ts"
import { payloadTypeOf } from "../sdp/offer.ts"
import { layersOf, type TrackSpec } from "./media-spec.ts"

const MAX_PAYLOAD = 1100
const HISTORY = 1024
const AUDIO_INTERVAL_MS = 20

type RtpUp = Extract<UpPacket, { kind: "rtp" }>

/** One RTP stream a publisher sends: a whole track, or one simulcast layer of it. */
class OutgoingStream {
  useq: number
  frame = 0
  keyframeWanted = true
  lastKeyframeAt = Number.NEGATIVE_INFINITY
  paused = false
  /** Frames and bytes sent (first transmissions), for measuring what a layer costs. */
  framesSent = 0
  bytesSent = 0
  private readonly history: Array<RtpUp | undefined> = new Array(HISTORY)

  constructor(
    readonly ssrc: number,
    readonly rid: string | undefined,
    readonly layer: number,
    readonly bitrateKbps: number,
    readonly frameSize: { readonly width: number; readonly height: number } | undefined,
    firstSeq: number,
    readonly firstTimestamp: number
  ) {
    this.useq = firstSeq
  }

  remember(packet: RtpUp): void {
    this.history[packet.sequenceNumber % HISTORY] = packet
  }

  recall(seq: number): RtpUp | undefined {
    const packet = this.history[seq % HISTORY]
    return packet?.sequenceNumber === seq ? packet : undefined
  }
}

export interface PublisherContext {
  readonly world: World
  readonly rng: Rng
  readonly origin: number
  readonly session: number
  /** False once the session is over: timers stop. */
  readonly active: () => boolean
  readonly send: (packet: UpPacket) => void
  readonly conn: () => string
}

/**
 * A simulated encoder for one publication: audio at 50 packets per second, or video
 * frames split into packets with keyframes at start, on request and optionally every few
 * seconds, one stream per simulcast layer. It answers NACKs from its send history.
 */
export class TrackPublisher {
  readonly streams: OutgoingStream[]
  private readonly payloadType: number
  packetsSent = 0
  keyframeRequests = 0
  retransmissions = 0

  constructor(
    private readonly context: PublisherContext,
    readonly track: number,
    readonly mid: string,
    readonly spec: TrackSpec
  ) {
    const { rng } = context
    const newStream = (
      rid: string | undefined,
      layer: number,
      bitrateKbps: number,
      frameSize?: { readonly width: number; readonly height: number }
    ) =>
      new OutgoingStream(
        rng.int(1, 0xfffffffe),
        rid,
        layer,
        bitrateKbps,
        frameSize,
        rng.int(0, 0xffff),
        rng.int(0, 0x7fffffff)
      )
    if (spec.kind === "audio") {
      this.streams = [newStream(undefined, 0, 32)]
      this.payloadType = payloadTypeOf("opus")
    } else {
      this.streams = layersOf(spec).map((layer, index) =>
        newStream(layer.rid, index, layer.bitrateKbps, { width: layer.width, height: layer.height })
      )
      this.payloadType = payloadTypeOf("VP8")
    }
  }

  get rids(): string[] {
    return this.streams.flatMap((s) => (s.rid === undefined ? [] : [s.rid]))
  }

  start(): void {
    const interval = this.spec.kind === "audio" ? AUDIO_INTERVAL_MS : Math.round(1000 / this.spec.fps)
    const tick = () => {
      if (!this.context.active()) return
      this.emit()
      this.context.world.after(interval, tick)
    }
    this.context.world.after(this.context.rng.int(0, interval - 1), tick)
  }

  /** Stops or restarts one simulcast layer; a restarted layer begins with a keyframe, as an encoder's does. */
  setPaused(rid: string, paused: boolean): void {
    for (const stream of this.streams) {
      if (stream.rid !== rid) continue
      if (stream.paused && !paused && this.spec.kind === "video" && this.spec.keyframeOnResume) {
        stream.keyframeWanted = true
      }
      stream.paused = paused
    }
  }

  onKeyframeRequest(ssrc: number): void {
    this.keyframeRequests++
    for (const stream of this.streams) if (stream.ssrc === ssrc) stream.keyframeWanted = true
  }

  onNack(ssrc: number, seqs: ReadonlyArray<number>): void {
    const stream = this.streams.find((s) => s.ssrc === ssrc)
    if (!stream) return
    for (const seq of seqs) {
      const packet = stream.recall(seq)
      if (!packet) continue
      this.retransmissions++
      this.context.send({ ...packet, conn: this.context.conn(), rtx: true })
    }
  }

  private emit(): void {
    for (const stream of this.streams) {
      if (stream.paused) continue
      if (this.spec.kind === "audio") this.emitAudio(stream)
      else this.emitFrame(stream, this.spec)
    }
  }

  private emitAudio(stream: OutgoingStream): void {
    const spec = this.spec.kind === "audio" ? this.spec : undefined
    const info = {
      origin: this.context.origin,
      session: this.context.session,
      track: this.track,
      layer: 0,
      frame: stream.frame,
      index: 0,
      count: 1,
      useq: stream.useq,
      keyframe: false
    }
    const level = this.context.rng.int(0, 127)
    this.sendPacket(stream, {
      timestamp: (stream.firstTimestamp + stream.frame * 960) >>> 0,
      marker: false,
      payload: encodePayload(info, spec?.packetBytes ?? 80, false),
      audioLevel: { voice: level < 60, level }
    })
    stream.frame++
  }

  private emitFrame(stream: OutgoingStream, spec: Extract<TrackSpec, { kind: "video" }>): void {
    const { fps, keyframeIntervalMs } = spec
    const now = this.context.world.now
    const keyframe =
      stream.keyframeWanted || (keyframeIntervalMs > 0 && now - stream.lastKeyframeAt >= keyframeIntervalMs)
    if (keyframe) {
      stream.keyframeWanted = false
      stream.lastKeyframeAt = now
    }
    const bytes =
      Math.max(200, (stream.bitrateKbps * 1000) / 8 / fps) * (keyframe ? spec.keyframeSizeFactor : 1)
    const count = Math.max(1, Math.ceil(bytes / MAX_PAYLOAD))
    const size = Math.ceil(bytes / count)
    const timestamp = (stream.firstTimestamp + Math.round((stream.frame * 90000) / fps)) >>> 0
    for (let index = 0; index < count; index++) {
      const info = {
        origin: this.context.origin,
        session: this.context.session,
        track: this.track,
        layer: stream.layer,
        frame: stream.frame,
        index,
        count,
        useq: stream.useq,
        keyframe
      }
      this.sendPacket(stream, {
        timestamp,
        marker: index === count - 1,
        payload: encodePayload(info, size, true, stream.frameSize),
        audioLevel: undefined
      })
    }
    stream.framesSent++
    stream.frame++
  }

  private sendPacket(
    stream: OutgoingStream,
    fields: Pick<RtpUp, "timestamp" | "marker" | "payload" | "audioLevel">
  ): void {
    const packet: RtpUp = {
      kind: "rtp",
      conn: this.context.conn(),
      mid: this.mid,
      rid: stream.rid,
      ssrc: stream.ssrc,
      payloadType: this.payloadType,
      sequenceNumber: stream.useq & 0xffff,
      rtx: false,
      ...fields
    }
    stream.useq++
    stream.bytesSent += packet.payload.byteLength
    stream.remember(packet)
    this.packetsSent++
    this.context.send(packet)
  }
}
