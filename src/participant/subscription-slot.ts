import { Clock, Effect, Metric, Queue, Random } from "effect"
import { Buggify } from "../fault/buggify.ts"
import { forkSupervised } from "../fault/supervision.ts"
import type { CodecName } from "../media/codec.ts"
import type { LayerInfo } from "../media/layer-monitor.ts"
import { LayerSwitcher } from "../media/layer-switcher.ts"
import { RetransmissionBudget } from "../media/retransmission-budget.ts"
import type { RtpPacket } from "../media/rtp-packet.ts"
import { SlotForwarder } from "../media/slot-forwarder.ts"
import type { MediaCounters } from "../observability/media-counters.ts"
import { forwardLatency } from "../observability/metrics.ts"
import type { Track, TrackSink } from "../track/track.ts"
import type { MediaKind, NegotiatedCodec, Peer, SlotDescription } from "../transport/transport.ts"

/** What the subscriber asked of this slot; the layer allocator reads the sizes and priority. */
export interface SlotPreferences {
  readonly maxHeight?: number | undefined
  readonly minHeight?: number | undefined
  /** Higher first when bandwidth is short. */
  readonly priority: number
  /** A paused slot keeps its binding but forwards nothing. */
  readonly paused: boolean
}

export const DEFAULT_SLOT_PREFERENCES: SlotPreferences = { priority: 0, paused: false }

export interface SlotOptions {
  readonly participantId: string
  readonly description: SlotDescription
  readonly peer: Peer
  readonly counters: MediaCounters
  readonly queuePackets: number
}

const BATCH = 64
/** About 2 s of 2.5 Mbit/s video. */
const HISTORY_PACKETS = 512
/** Retransmissions may add up to half of what the slot forwards, plus a small burst: 30 % random loss
 * needs about 43 % (three tries); a 25 % cap left the simulated lossy subscriber unable to decode. */
const RETRANSMISSION_SHARE = 0.5
const RETRANSMISSION_BURST = 64

/**
 * A recvonly m-line of a subscriber: a fixed SSRC on which the room puts one track at a
 * time. Its fiber drains a bounded queue (a slow subscriber drops its own packets, counted,
 * and never holds up the publisher or anyone else) and sends each packet through the
 * forwarder, which keeps the stream continuous across source switches.
 */
export class SubscriptionSlot implements TrackSink {
  readonly key: string
  readonly mid: string
  readonly kind: MediaKind
  readonly ssrc: number
  readonly codecs: ReadonlyArray<NegotiatedCodec>
  private boundTrack: Track | undefined
  private prefs: SlotPreferences = DEFAULT_SLOT_PREFERENCES
  /** Which layer of a simulcast track this slot forwards; switches only at the target layer's keyframe. */
  private switcher = new LayerSwitcher()
  /** Why the layer allocator stopped this slot, if it did. */
  private pausedFor: "bandwidth" | "no-layers" | undefined
  /** A plain (non-simulcast) track resumed after a pause restarts at a keyframe. */
  private resumeAtKeyframe = false
  /** Packets that (re)start a layer, even the same SSRC after a pause: a new source for the forwarder. */
  private readonly layerStarts = new WeakSet<RtpPacket>()
  /** Called when the track or preferences change, so the subscriber's allocator picks a layer at once. */
  requestAllocation: (nowMs: number) => void = () => undefined
  /** Retransmissions also fit the subscriber's downlink; true when allowed. */
  allowRetransmission: (bytes: number) => boolean = () => true
  private readonly forwarder: SlotForwarder
  private readonly retransmissionBudget = new RetransmissionBudget(RETRANSMISSION_SHARE, RETRANSMISSION_BURST)
  packetsSent = 0
  packetsDropped = 0

  private constructor(
    private readonly options: SlotOptions,
    private readonly queue: Queue.Queue<RtpPacket>,
    private readonly buggify: Buggify,
    initialSequenceNumber: number,
    initialTimestamp: number
  ) {
    this.mid = options.description.mid
    this.key = `${options.participantId}/${this.mid}`
    this.kind = options.description.kind
    this.ssrc = options.description.ssrc
    this.codecs = options.description.codecs
    this.forwarder = new SlotForwarder({
      kind: this.kind,
      initialSequenceNumber,
      initialTimestamp,
      historyPackets: HISTORY_PACKETS
    })
  }

  static readonly make = (options: SlotOptions) =>
    Effect.gen(function* () {
      const queue = yield* Queue.dropping<RtpPacket>(options.queuePackets)
      const initialSequenceNumber = yield* Random.nextIntBetween(0, 0xffff)
      const initialTimestamp = yield* Random.nextIntBetween(0, 0x7fffffff)
      const buggify = yield* Buggify
      const slot = new SubscriptionSlot(options, queue, buggify, initialSequenceNumber, initialTimestamp)
      yield* forkSupervised(
        "slot-forwarder",
        Queue.takeBetween(queue, 1, BATCH).pipe(
          Effect.flatMap((batch) =>
            Clock.currentTimeNanos.pipe(
              Effect.flatMap((nanos) => {
                const nowMs = Number(nanos) / 1e6
                slot.send(batch, nowMs)
                // The batch's oldest packet waited longest: sampling it costs one update per batch.
                return Metric.update(forwardLatency, Math.max(0, nowMs - batch[0]!.receivedAtMs) / 1000)
              })
            )
          ),
          Effect.forever
        )
      )
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => slot.unbind()).pipe(Effect.andThen(Queue.shutdown(queue)))
      )
      return slot
    })

  get track(): Track | undefined {
    return this.boundTrack
  }

  get preferences(): SlotPreferences {
    return this.prefs
  }

  /**
   * Room fiber only. Pausing detaches the slot from its track's fan-out (nothing is queued
   * or sent); resuming reattaches it and starts from a keyframe, like a new binding.
   */
  setPreferences(preferences: SlotPreferences, nowMs: number): void {
    const wasPaused = this.prefs.paused
    this.prefs = preferences
    const track = this.boundTrack
    if (!track) return
    if (wasPaused !== preferences.paused) {
      if (preferences.paused) track.detach(this.key)
      else {
        this.forwarder.unbind()
        this.switcher = new LayerSwitcher()
        track.attach(this)
        if (!track.simulcast) track.requestKeyframe(nowMs)
      }
    }
    this.requestAllocation(nowMs)
  }

  /** Whether this slot can carry `track`: same kind, and a codec the subscriber negotiated. */
  accepts(track: Track): boolean {
    return track.kind === this.kind && this.codecs.some((c) => c.name === track.codec)
  }

  /** Track fiber only (see `TrackSink`). */
  offer(packet: RtpPacket, keyframe: boolean, late: boolean): boolean {
    const track = this.boundTrack
    if (track?.simulcast) {
      if (!this.switcher.accept({ ssrc: packet.ssrc, keyframe, late, marker: packet.marker })) {
        const target = this.switcher.targetSsrc
        if (this.switcher.waitingForKeyframe && typeof target === "number")
          track.requestKeyframe(packet.receivedAtMs, target)
        return true
      }
      if (this.switcher.startedLayer) this.layerStarts.add(packet)
    } else if (this.pausedFor !== undefined) {
      return true
    } else if (this.resumeAtKeyframe) {
      if (!keyframe || late) {
        track?.requestKeyframe(packet.receivedAtMs, packet.ssrc)
        return true
      }
      this.resumeAtKeyframe = false
      this.layerStarts.add(packet)
    }
    return this.enqueue(packet)
  }

  /** The layer this slot forwards now, if its track is simulcast and it has one. */
  get forwardedLayer(): LayerInfo | undefined {
    const ssrc = this.switcher.currentSsrc
    return ssrc === undefined ? undefined : this.boundTrack?.layers.layer(ssrc, this.lastSeenMs)
  }

  get currentSsrc(): number | undefined {
    return this.boundTrack?.simulcast ? this.switcher.currentSsrc : undefined
  }

  get targetSsrc(): number | undefined {
    const target = this.switcher.targetSsrc
    return this.boundTrack?.simulcast && typeof target === "number" ? target : undefined
  }

  get layerSwitches(): number {
    return this.switcher.switches
  }

  /** Why the slot forwards nothing though it has a track, if it does not. */
  get pauseReason(): "client" | "bandwidth" | "no-layers" | undefined {
    return this.prefs.paused ? "client" : this.pausedFor
  }

  /** The layer allocator's choice for this slot: a layer (SSRC) of its track, or a pause. */
  setLayer(
    choice: { readonly ssrc: number } | { readonly paused: "bandwidth" | "no-layers" },
    nowMs: number
  ): void {
    const track = this.boundTrack
    if (!track) return
    if ("paused" in choice) {
      this.pausedFor = choice.paused
      if (track.simulcast) this.switcher.setTarget("paused")
      return
    }
    const wasPaused = this.pausedFor !== undefined
    this.pausedFor = undefined
    if (track.simulcast) {
      this.switcher.setTarget(choice.ssrc)
      if (this.switcher.waitingForKeyframe) track.requestKeyframe(nowMs, choice.ssrc)
    } else if (wasPaused) {
      this.resumeAtKeyframe = true
      track.requestKeyframe(nowMs)
    }
  }

  private lastSeenMs = 0

  private enqueue(packet: RtpPacket): boolean {
    this.lastSeenMs = packet.receivedAtMs
    const full = this.buggify.enabled && this.buggify.fires("slot.queue-full")
    if (!full && Queue.offerUnsafe(this.queue, packet)) return true
    this.packetsDropped++
    this.options.counters.droppedSubscriberQueue++
    return false
  }

  /** Puts `track` on this slot and asks its publisher for a keyframe to start from. Room fiber only. */
  bind(track: Track, nowMs: number): void {
    if (this.boundTrack === track) return
    this.boundTrack?.detach(this.key)
    this.boundTrack = track
    this.forwarder.unbind()
    this.switcher = new LayerSwitcher()
    this.pausedFor = undefined
    this.resumeAtKeyframe = false
    if (this.prefs.paused) return
    track.attach(this)
    this.requestAllocation(nowMs)
    if (!track.simulcast) track.requestKeyframe(nowMs)
  }

  /** Room fiber only. */
  unbind(): void {
    this.boundTrack?.detach(this.key)
    this.boundTrack = undefined
    this.forwarder.unbind()
    this.switcher = new LayerSwitcher()
    this.pausedFor = undefined
  }

  keyframeRequested(nowMs: number): void {
    this.options.counters.keyframeRequestsFromSubscribers++
    this.askForKeyframe(nowMs)
  }

  /** A keyframe of what this slot forwards, through the track's per-layer throttle. */
  private askForKeyframe(nowMs: number): void {
    const track = this.boundTrack
    if (!track) return
    if (track.simulcast) track.requestKeyframe(nowMs, this.switcher.currentSsrc ?? this.targetSsrc)
    else track.requestKeyframe(nowMs)
  }

  /**
   * Answers a subscriber's NACK from the slot's history, within the retransmission budgets. A
   * video packet that cannot be resent (gone from the history, or over budget, as after an
   * outage) leaves the decoder waiting for a keyframe: the publisher is asked for one at once
   * (throttled per layer) rather than when the subscriber gives up on its NACKs.
   */
  nacked(sequenceNumbers: ReadonlyArray<number>, nowMs: number): void {
    const counters = this.options.counters
    counters.nacksFromSubscribers += sequenceNumbers.length
    const track = this.boundTrack
    const codec = this.codecFor(track?.codec)
    if (!track || !codec) return
    const found = this.forwarder.lookup(sequenceNumbers)
    let lost = sequenceNumbers.length - found.length
    for (const packet of found) {
      if (!this.retransmissionBudget.trySpend() || !this.allowRetransmission(packet.payload.byteLength)) {
        counters.retransmissionsOverBudget++
        lost++
        continue
      }
      if (this.options.peer.retransmit(this.mid, codec, packet)) counters.retransmissions++
    }
    if (lost > 0 && track.kind === "video") this.askForKeyframe(nowMs)
  }

  private codecFor(name: CodecName | undefined): NegotiatedCodec | undefined {
    return name === undefined ? undefined : this.codecs.find((c) => c.name === name)
  }

  private send(batch: ReadonlyArray<RtpPacket>, nowMs: number): void {
    const track = this.boundTrack
    const counters = this.options.counters
    for (const packet of batch) {
      if (!track?.owns(packet)) {
        counters.droppedUnbound++
        continue
      }
      const codecName = track.codecOf(packet)
      const codec = this.codecFor(codecName)
      if (!codec) {
        counters.droppedUnbound++
        continue
      }
      if (this.layerStarts.has(packet)) this.forwarder.unbind()
      const result = this.forwarder.forward(packet, codecName)
      if (result._tag === "Send") {
        const injectedFailure = this.buggify.enabled && this.buggify.fires("slot.send-failed")
        if (!injectedFailure && this.options.peer.sendRtp(this.mid, codec, result.packet)) {
          this.packetsSent++
          this.retransmissionBudget.forwarded()
          counters.packetsOut++
          counters.bytesOut += result.packet.payload.byteLength
        } else {
          this.packetsDropped++
          counters.droppedNotConnected++
        }
      } else if (result._tag === "WaitingForKeyframe") {
        counters.droppedWaitingForKeyframe++
        track.requestKeyframe(nowMs)
      }
    }
  }
}
