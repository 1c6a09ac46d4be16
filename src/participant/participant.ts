import { Clock, Deferred, Duration, Effect, Option, Random, Schedule, type Scope, Semaphore } from "effect"
import { PrismConfig } from "../config.ts"
import { forkSupervised, Supervisor } from "../fault/supervision.ts"
import type { LayerInfo } from "../media/layer-monitor.ts"
import { Counters } from "../observability/media-counters.ts"
import { EtagMismatch, InvalidOffer, ParticipantNotFound, RoomBusy, TooManyTracks } from "../room/errors.ts"
import type { LayerView, ParticipantView } from "../room/room-view.ts"
import { Track } from "../track/track.ts"
import { type Peer, Transport } from "../transport/transport.ts"
import { Downlink } from "./downlink.ts"
import { SubscriptionSlot } from "./subscription-slot.ts"

/** A client joined through the participants API (both directions), WHIP (publish) or WHEP (subscribe). */
export type ParticipantRole = "participant" | "whip" | "whep"

export type EndReason =
  | "left"
  | "transport-failed"
  | "transport-closed"
  | "timeout"
  | "room-closed"
  | "abuse"
  /** One of its fibers failed (logged and counted by component); it was taken down whole. */
  | "failed"

/** Where a participant's data-channel events go (its control session, once the room made one). */
export interface DataChannelHandler {
  readonly onDataChannelOpen: (label: string) => void
  readonly onDataMessage: (label: string, message: string | Uint8Array) => void
}

const ignoreData: DataChannelHandler = { onDataChannelOpen: () => undefined, onDataMessage: () => undefined }

export interface ParticipantOptions {
  readonly room: string
  readonly id: string
  readonly role: ParticipantRole
  readonly offer: string
  /** Called (on the transport's callback) when ICE and DTLS are up for the first time. */
  readonly onConnected: () => void
}

const WATCHDOG_INTERVAL = "1 second"
/** Probe padding is paced in steps this short. */
const DOWNLINK_TICK = "20 millis"
/** How often each subscriber's layers are re-chosen (also at once when a slot's track changes). */
const ALLOCATION_INTERVAL = "250 millis"
/** A restart offer waits at most this long for an earlier one of the same session, then gets 503. */
const RENEGOTIATION_QUEUE_DEADLINE = "2 seconds"
/** werift answers in milliseconds; a negotiation still running after this is abandoned with 503. */
const NEGOTIATION_DEADLINE = "10 seconds"
const RETRY_AFTER_SECONDS = 1

/**
 * One client: its peer connection, a Track per publication and a SubscriptionSlot per
 * recvonly m-line, all living in the scope this is made in. Every fiber under it is
 * supervised: if one fails, `ended` completes with "failed" and the room takes the whole
 * participant down. `ended` also completes when the client goes away by itself (transport
 * failure, or silence past the timeout).
 */
export class Participant {
  private currentEtag: string
  private dataHandler: DataChannelHandler = ignoreData
  private isConnected = false
  /** One renegotiation at a time per session: the ETag check and the rotation are one step. */
  private readonly renegotiation = Semaphore.makeUnsafe(1)

  private constructor(
    readonly options: ParticipantOptions,
    readonly peer: Peer,
    readonly tracks: ReadonlyArray<Track>,
    readonly slots: ReadonlyArray<SubscriptionSlot>,
    readonly ended: Deferred.Deferred<EndReason>,
    readonly downlink: Downlink,
    etag: string
  ) {
    this.currentEtag = etag
  }

  get id(): string {
    return this.options.id
  }

  get etag(): string {
    return this.currentEtag
  }

  /** ICE and DTLS are up (since the first time they were; a lost transport ends the participant). */
  get connected(): boolean {
    return this.isConnected
  }

  static readonly make = (
    options: ParticipantOptions
  ): Effect.Effect<
    Participant,
    InvalidOffer | TooManyTracks,
    Scope.Scope | Transport | Counters | PrismConfig
  > =>
    Effect.gen(function* () {
      const ended = yield* Deferred.make<EndReason>()
      const supervisor: Supervisor = {
        subject: options.id,
        failed: () => Deferred.succeed(ended, "failed").pipe(Effect.asVoid)
      }
      return yield* Participant.build(options, ended).pipe(Effect.provideService(Supervisor, supervisor))
    })

  private static readonly build = (options: ParticipantOptions, ended: Deferred.Deferred<EndReason>) =>
    Effect.gen(function* () {
      const config = yield* PrismConfig
      const counters = yield* Counters
      const transport = yield* Transport
      const peer = yield* transport
        .connect({ offer: options.offer, room: options.room, participantId: options.id })
        .pipe(Effect.mapError((e) => new InvalidOffer({ reason: e.reason })))
      const publications = options.role === "whep" ? [] : peer.publications
      const slotDescriptions = options.role === "whip" ? [] : peer.slots
      if (publications.length > config.maxTracksPerParticipant) {
        return yield* new TooManyTracks({ count: publications.length, limit: config.maxTracksPerParticipant })
      }
      if (publications.length === 0 && slotDescriptions.length === 0) {
        return yield* new InvalidOffer({
          reason:
            options.role === "whip"
              ? "a WHIP offer must send audio or video"
              : options.role === "whep"
                ? "a WHEP offer must receive audio or video"
                : "the offer neither sends nor receives media the server supports"
        })
      }
      const slots: SubscriptionSlot[] = []
      for (const description of slotDescriptions) {
        slots.push(
          yield* SubscriptionSlot.make({
            participantId: options.id,
            description,
            peer,
            counters,
            queuePackets: config.subscriberQueuePackets
          })
        )
      }
      const downlink = new Downlink(peer, counters, slots)
      const keyframeRequestIntervalMs = Duration.toMillis(config.keyframeRequestInterval)
      const tracks: Track[] = []
      for (const publication of publications) {
        tracks.push(
          yield* Track.make({
            id: `${options.id}:${publication.mid}`,
            participantId: options.id,
            publication,
            peer,
            counters,
            queuePackets: config.publisherQueuePackets,
            keyframeRequestIntervalMs,
            // The round trip to this client, from its own receiver reports (when it also subscribes).
            publisherRoundTripMs: () => downlink.estimator.roundTripMs()
          })
        )
      }
      const etag = yield* newEtag
      const participant = new Participant(options, peer, tracks, slots, ended, downlink, etag)
      const trackByMid = new Map(tracks.map((t) => [t.mid, t]))
      const slotByMid = new Map(slots.map((s) => [s.mid, s]))
      peer.attach({
        onRtp: (mid, packet) => trackByMid.get(mid)?.receive(packet),
        onKeyframeRequest: (mid, nowMs) => slotByMid.get(mid)?.keyframeRequested(nowMs),
        onNack: (mid, seqs, nowMs) => slotByMid.get(mid)?.nacked(seqs, nowMs),
        onStateChange: (state) => {
          if (state === "connected") participant.markConnected()
          else if (state === "failed") Deferred.doneUnsafe(ended, Effect.succeed("transport-failed"))
          else if (state === "closed") Deferred.doneUnsafe(ended, Effect.succeed("transport-closed"))
        },
        onCongestionFeedback: (feedback) => downlink.onFeedback(feedback),
        onDataChannelOpen: (label) => participant.dataHandler.onDataChannelOpen(label),
        onDataMessage: (label, message) => participant.dataHandler.onDataMessage(label, message)
      })
      const timeoutMs = Duration.toMillis(config.participantTimeout)
      yield* forkSupervised(
        "watchdog",
        Effect.suspend(() =>
          peer.silenceMs() > timeoutMs ? Deferred.succeed(ended, "timeout" as const) : Effect.void
        ).pipe(Effect.repeat(Schedule.spaced(WATCHDOG_INTERVAL)))
      )
      if (downlink.hasVideo) {
        const now = Clock.currentTimeMillis
        yield* forkSupervised(
          "downlink-tick",
          now.pipe(
            Effect.map((nowMs) => downlink.tick(nowMs)),
            Effect.repeat(Schedule.spaced(DOWNLINK_TICK))
          )
        )
        yield* forkSupervised(
          "layer-allocation",
          now.pipe(
            Effect.map((nowMs) => downlink.allocate(nowMs)),
            Effect.repeat(Schedule.spaced(ALLOCATION_INTERVAL))
          )
        )
      }
      return participant
    })

  private markConnected(): void {
    if (this.isConnected) return
    this.isConnected = true
    this.options.onConnected()
  }

  /** Routes data-channel events (a channel cannot open before the client has the answer). */
  handleData(handler: DataChannelHandler): void {
    this.dataHandler = handler
  }

  /** Whether it has ended (its fiber is leaving the room, or has). */
  get hasEnded(): boolean {
    return Deferred.isDoneUnsafe(this.ended)
  }

  /** Ends the participant from outside (it left, or abuse); its fiber then leaves the room. */
  end(reason: EndReason): void {
    Deferred.doneUnsafe(this.ended, Effect.succeed(reason))
  }

  /**
   * ICE restart with a new offer, when `ifMatch` (if given) is the current ETag: returns the
   * answer and rotates the ETag. Runs on the caller's fiber, one per session at a time, never
   * through the room; a participant that ends meanwhile is not found.
   */
  renegotiate(
    offer: string,
    ifMatch: string | undefined
  ): Effect.Effect<
    { readonly answer: string; readonly etag: string },
    InvalidOffer | EtagMismatch | ParticipantNotFound | RoomBusy
  > {
    const self = this
    const busy = new RoomBusy({ room: this.options.room, retryAfterSeconds: RETRY_AFTER_SECONDS })
    const negotiate = Effect.gen(function* () {
      if (ifMatch !== undefined && ifMatch !== self.currentEtag) {
        return yield* new EtagMismatch({ expected: self.currentEtag })
      }
      const answer = yield* self.peer.renegotiate(offer).pipe(
        Effect.mapError((e) => new InvalidOffer({ reason: e.reason })),
        Effect.timeoutOrElse({ duration: NEGOTIATION_DEADLINE, orElse: () => Effect.fail(busy) })
      )
      self.currentEtag = yield* newEtag
      return { answer, etag: self.currentEtag }
    })
    const oneAtATime = Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const permit = yield* restore(
          self.renegotiation.take(1).pipe(Effect.timeoutOption(RENEGOTIATION_QUEUE_DEADLINE))
        )
        if (Option.isNone(permit)) return yield* busy
        return yield* restore(negotiate).pipe(Effect.ensuring(self.renegotiation.release(1)))
      })
    )
    const gone = Deferred.await(this.ended).pipe(
      Effect.andThen(
        Effect.fail(new ParticipantNotFound({ room: this.options.room, participantId: this.id }))
      )
    )
    return Effect.raceFirst(oneAtATime, gone)
  }

  /** Pins a video slot to one simulcast layer by rid, or releases it (undefined); false if there is no such layer. */
  forceLayer(slotMid: string, rid: string | undefined, nowMs: number): boolean {
    return this.downlink.force(slotMid, rid, nowMs)
  }

  view(nowMs: number): ParticipantView {
    const estimate = this.downlink.estimate()
    return {
      id: this.id,
      role: this.options.role,
      state: this.isConnected ? "connected" : "connecting",
      downlink: {
        estimateBps: estimate.source === "none" ? null : Math.round(estimate.bitrateBps),
        source: estimate.source
      },
      publications: this.tracks.map((t) => ({
        id: t.id,
        mid: t.mid,
        kind: t.kind,
        codec: t.codec,
        rids: t.rids,
        layers: t.layers.layers(nowMs).map(layerView),
        packetsReceived: t.packetsReceived,
        subscribers: t.subscriberCount
      })),
      slots: this.slots.map((s) => {
        const layer = s.forwardedLayer
        const target = s.targetSsrc
        return {
          mid: s.mid,
          kind: s.kind,
          ssrc: s.ssrc,
          trackId: s.track?.id ?? null,
          layer: layer ? layerView(layer) : null,
          targetRid: (target === s.currentSsrc ? undefined : s.track?.ridOf(target)) ?? null,
          paused: s.pauseReason ?? null,
          layerSwitches: s.layerSwitches,
          packetsSent: s.packetsSent,
          packetsDropped: s.packetsDropped
        }
      })
    }
  }
}

const layerView = (layer: LayerInfo): LayerView => ({
  rid: layer.rid ?? null,
  width: layer.width ?? null,
  height: layer.height ?? null,
  fps: Math.round(layer.fps),
  bitrateBps: Math.round(layer.bitrateBps),
  flowing: layer.flowing
})

const newEtag = Effect.gen(function* () {
  const now = yield* Clock.currentTimeMillis
  const salt = yield* Random.nextIntBetween(0, 0x7fffffff)
  return `"${now.toString(36)}${salt.toString(36)}"`
})
