import { Clock, Effect, Queue, Schedule } from "effect"
import { Buggify } from "../fault/buggify.ts"
import { forkSupervised } from "../fault/supervision.ts"
import { AudioLevelMeter } from "../media/audio-level.ts"
import { type CodecName, isVideoCodec } from "../media/codec.ts"
import { DuplicateFilter } from "../media/duplicate-filter.ts"
import { isKeyframe } from "../media/keyframe.ts"
import { KeyframeRequestThrottle } from "../media/keyframe-request-throttle.ts"
import { type LayerInfo, LayerMonitor } from "../media/layer-monitor.ts"
import { NackGenerator } from "../media/nack-generator.ts"
import type { RtpPacket } from "../media/rtp-packet.ts"
import { seqLate } from "../media/sequence-number.ts"
import type { MediaCounters } from "../observability/media-counters.ts"
import type { InboundRtp, MediaKind, Peer, PublicationDescription } from "../transport/transport.ts"

/** Where a track delivers its packets: one subscription slot's bounded queue. */
export interface TrackSink {
  readonly key: string
  /**
   * Never blocks; returns false (and the sink counts a drop) when the sink is full.
   * `keyframe`: the packet starts a keyframe (computed for video only); `late`: it is older
   * than the newest packet of its SSRC. A simulcast sink takes only its own layer's packets.
   */
  readonly offer: (packet: RtpPacket, keyframe: boolean, late: boolean) => boolean
}

export interface TrackOptions {
  readonly id: string
  readonly participantId: string
  readonly publication: PublicationDescription
  readonly peer: Peer
  readonly counters: MediaCounters
  readonly queuePackets: number
  readonly keyframeRequestIntervalMs: number
  /** The round trip to the publisher, when known (from its receiver reports, if it also subscribes). */
  readonly publisherRoundTripMs: () => number | undefined
}

const BATCH = 64
const NACK_INTERVAL = "20 millis"
/** Longer than any pause a live encoder makes (Opus DTX: 400 ms; a muted camera: about 1 fps). */
const FLOWING_WINDOW_MS = 2000

/**
 * One published audio or video track: its fiber takes the publisher's packets in batches
 * from a bounded queue, picks the simulcast layer to forward, and fans each packet out to
 * the sinks of the slots bound to it. Sinks are attached and detached only by the room
 * fiber, which is the one writer of bindings.
 */
export class Track {
  readonly id: string
  readonly participantId: string
  readonly mid: string
  readonly kind: MediaKind
  readonly codec: CodecName
  readonly rids: ReadonlyArray<string>
  /** Simulcast (by rids or an SSRC group): each subscriber chooses a layer; otherwise every SSRC (e.g. after a source change) flows. */
  readonly simulcast: boolean
  private readonly sinks = new Map<string, TrackSink>()
  private readonly codecByPayloadType = new Map<number, CodecName>()
  /** Rate, frame rate, size (video) and flow of each SSRC (simulcast layer) of the track. */
  readonly layers: LayerMonitor
  /** One per SSRC: many subscribers asking for a keyframe of a layer at once make one request. */
  private readonly throttles = new Map<number, KeyframeRequestThrottle>()
  private readonly nackGenerators = new Map<number, NackGenerator>()
  private readonly duplicates = new Map<number, DuplicateFilter>()
  private readonly ssrcs = new Set<number>()
  private readonly newestSeq = new Map<number, number>()
  /** Per SSRC, the count of in-order packets up to its newest; per sink, that count when it was attached. */
  private readonly newestAt = new Map<number, number>()
  private readonly attachedAt = new Map<string, number>()
  private inOrderPackets = 0
  private lastSsrc: number | undefined
  packetsReceived = 0
  bytesReceived = 0
  /** When the newest packet arrived (server clock), undefined before the first. */
  private lastPacketAtMs: number | undefined
  /** RFC 6464 levels of an audio track, read by the room's active-speaker ranking. */
  readonly audioLevel = new AudioLevelMeter()

  private constructor(
    private readonly options: TrackOptions,
    private readonly inbox: Queue.Queue<InboundRtp>,
    private readonly buggify: Buggify
  ) {
    this.id = options.id
    this.participantId = options.participantId
    this.mid = options.publication.mid
    this.kind = options.publication.kind
    this.codec = options.publication.codecs[0]!.name
    this.rids = options.publication.rids
    this.simulcast = this.rids.length > 1 || (options.publication.simulcastSsrcs?.length ?? 0) > 1
    for (const codec of options.publication.codecs) this.codecByPayloadType.set(codec.payloadType, codec.name)
    this.layers = new LayerMonitor(this.rids, options.publication.simulcastSsrcs)
  }

  /** Creates the track and forks its fibers into the current scope. */
  static readonly make = (options: TrackOptions) =>
    Effect.gen(function* () {
      const inbox = yield* Queue.dropping<InboundRtp>(options.queuePackets)
      const buggify = yield* Buggify
      const track = new Track(options, inbox, buggify)
      const handle = (batch: ReadonlyArray<InboundRtp>) => Effect.sync(() => track.fanOut(batch))
      const stallThenHandle = (batch: ReadonlyArray<InboundRtp>) =>
        buggify.fires("track.batch-delay")
          ? Effect.sleep(buggify.delayMs("track.batch-delay")).pipe(Effect.andThen(handle(batch)))
          : handle(batch)
      yield* forkSupervised(
        "track-inbox",
        Queue.takeBetween(inbox, 1, BATCH).pipe(
          Effect.flatMap(buggify.enabled ? stallThenHandle : handle),
          Effect.forever
        )
      )
      if (track.kind === "video") {
        yield* forkSupervised(
          "track-nack-poll",
          Clock.currentTimeMillis.pipe(
            Effect.map((now) => track.pollNacks(now)),
            Effect.repeat(Schedule.spaced(NACK_INTERVAL))
          )
        )
      }
      yield* Effect.addFinalizer(() => Queue.shutdown(inbox))
      return track
    })

  /** Called from the transport's receive callback: never blocks, drops when the queue is full. */
  receive(packet: InboundRtp): void {
    const full = this.buggify.enabled && this.buggify.fires("track.inbox-full")
    if (full || !Queue.offerUnsafe(this.inbox, packet)) this.options.counters.droppedPublisherQueue++
  }

  attach(sink: TrackSink): void {
    this.sinks.set(sink.key, sink)
    this.attachedAt.set(sink.key, this.inOrderPackets)
  }

  detach(sinkKey: string): void {
    this.sinks.delete(sinkKey)
    this.attachedAt.delete(sinkKey)
  }

  get subscriberCount(): number {
    return this.sinks.size
  }

  /** True when the packet came from this track (any of its layers). */
  owns(packet: RtpPacket): boolean {
    return this.ssrcs.has(packet.ssrc)
  }

  codecOf(packet: RtpPacket): CodecName {
    return this.codecByPayloadType.get(packet.payloadType) ?? this.codec
  }

  private readonly ridBySsrc = new Map<number, string>()

  ridOf(ssrc: number | undefined): string | undefined {
    return ssrc === undefined ? undefined : this.ridBySsrc.get(ssrc)
  }

  /**
   * Whether the publisher delivered anything in the last `FLOWING_WINDOW_MS`: a slot is not
   * left on a track that sends nothing while another one flows.
   */
  flowing(nowMs: number): boolean {
    return this.lastPacketAtMs !== undefined && nowMs - this.lastPacketAtMs <= FLOWING_WINDOW_MS
  }

  /** The layers a subscriber can be given now, lowest quality first (one for a plain track). */
  flowingLayers(nowMs: number): ReadonlyArray<LayerInfo> {
    return this.layers.flowingLayers(nowMs)
  }

  /**
   * A keyframe request for one layer (SSRC) of this track, from a subscriber or from the SFU
   * itself, or for its newest SSRC when none is given; at most one per interval per layer
   * reaches the publisher, however many ask.
   */
  requestKeyframe(nowMs: number, ssrc: number | undefined = this.lastSsrc): void {
    if (this.kind !== "video" || ssrc === undefined) return
    let throttle = this.throttles.get(ssrc)
    if (!throttle) {
      if (!this.ssrcs.has(ssrc)) return
      throttle = new KeyframeRequestThrottle(this.options.keyframeRequestIntervalMs)
      this.throttles.set(ssrc, throttle)
    }
    if (!throttle.tryRequest(nowMs)) return
    this.options.counters.keyframeRequestsToPublishers++
    if (this.buggify.enabled && this.buggify.fires("track.keyframe-request-lost")) return
    this.options.peer.requestKeyframe(this.mid, ssrc)
  }

  private fanOut(batch: ReadonlyArray<InboundRtp>): void {
    const counters = this.options.counters
    const video = isVideoCodec(this.codec)
    for (const packet of batch) {
      counters.packetsIn++
      counters.bytesIn += packet.payload.byteLength
      this.lastPacketAtMs = packet.receivedAtMs
      this.packetsReceived++
      this.bytesReceived += packet.payload.byteLength
      if (!this.ssrcs.has(packet.ssrc)) {
        this.ssrcs.add(packet.ssrc)
        this.duplicates.set(packet.ssrc, new DuplicateFilter())
        if (packet.rid !== undefined) this.ridBySsrc.set(packet.ssrc, packet.rid)
      }
      if (this.duplicates.get(packet.ssrc)!.isDuplicate(packet.sequenceNumber)) {
        counters.droppedDuplicate++
        continue
      }
      this.lastSsrc = packet.ssrc
      if (packet.audioLevel !== undefined) this.audioLevel.observe(packet.audioLevel.level)
      const late = seqLate(packet.sequenceNumber, this.newestSeq.get(packet.ssrc))
      if (!late) {
        this.newestSeq.set(packet.ssrc, packet.sequenceNumber)
        this.newestAt.set(packet.ssrc, ++this.inOrderPackets)
      }
      const codec = this.codecOf(packet)
      let keyframe = false
      if (video) {
        this.nackGeneratorFor(packet.ssrc).onPacket(packet.sequenceNumber, packet.receivedAtMs)
        keyframe = isKeyframe(codec, packet.payload)
      }
      this.layers.onPacket(packet, codec, keyframe, packet.receivedAtMs)
      const newestAt = late ? (this.newestAt.get(packet.ssrc) ?? 0) : 0
      for (const sink of this.sinks.values()) {
        // A straggler older than what went by before the sink was attached would start it with a hole.
        if (late && newestAt <= (this.attachedAt.get(sink.key) ?? 0)) continue
        sink.offer(packet, keyframe, late)
      }
    }
  }

  private nackGeneratorFor(ssrc: number): NackGenerator {
    let generator = this.nackGenerators.get(ssrc)
    if (!generator) {
      generator = new NackGenerator({
        maxTrackedMissing: 256,
        maxRetries: 3,
        retryIntervalMs: 100,
        maxAgeMs: 1000,
        maxNacksPerPoll: 64
      })
      this.nackGenerators.set(ssrc, generator)
    }
    return generator
  }

  private pollNacks(nowMs: number): void {
    // A repeat NACK sooner than a round trip would ask again for a packet already on its way.
    const rttMs = this.options.publisherRoundTripMs()
    for (const [ssrc, generator] of this.nackGenerators) {
      if (rttMs !== undefined) generator.setRttMs(rttMs)
      const missing = generator.poll(nowMs)
      if (missing.length === 0) continue
      this.options.counters.nacksToPublishers += missing.length
      this.options.peer.sendNack(this.mid, ssrc, missing)
    }
  }
}
