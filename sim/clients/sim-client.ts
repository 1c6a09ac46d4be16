import { Effect } from "effect"
import type { ParticipantRole } from "../../src/participant/participant.ts"
import type { RoomRegistry } from "../../src/room/room-registry.ts"
import type { Rng } from "../engine/rng.ts"
import type { Trace } from "../engine/trace.ts"
import type { World } from "../engine/world.ts"
import { decodePayload } from "../media/payload.ts"
import { Link, type LinkSettings } from "../network/link.ts"
import type { ClientEndpoint, Network } from "../network/network.ts"
import type { DownPacket, UpPacket } from "../network/packets.ts"
import type { Ledger } from "../observe/ledger.ts"
import { buildOffer, type OfferSection, readAnswer, type SimCodec } from "../sdp/offer.ts"
import type { TrackSpec } from "./media-spec.ts"
import { TrackPublisher } from "./publisher.ts"
import { SlotReceiver } from "./slot-receiver.ts"

export interface ClientSpec {
  readonly name: string
  readonly room: string
  readonly role: ParticipantRole
  readonly publishes: ReadonlyArray<TrackSpec>
  /** Receive m-lines offered (subscription slots), per kind. */
  readonly receives: { readonly audio: number; readonly video: number }
  /** Codecs offered on video receive m-lines. */
  readonly videoCodecs: ReadonlyArray<SimCodec>
  readonly link: LinkSettings
  /** Rejoin by itself after the server closes its connection or stops answering, like a real app. */
  readonly autoReconnect: boolean
}

export type ClientState = "offline" | "connected" | "crashed" | "left"

export interface ClientServices {
  readonly world: World
  readonly network: Network
  readonly trace: Trace
  readonly ledger: Ledger
  readonly registry: (typeof RoomRegistry)["Service"]
  /** Runs an Effect in the simulation, started from a simulated event. */
  readonly fork: (effect: Effect.Effect<void>) => void
  readonly rng: (name: string) => Rng
}

const TICK_MS = 50
const CONSENT_MS = 1000
/** Without consent responses for this long, the client restarts ICE (as apps do on "disconnected"). */
const ICE_RESTART_AFTER_MS = 6000
const RECOVERY_INTERVAL_MS = 3000
const REJOIN_BACKOFF_MS = 1000

/** One connection's lifetime, from a successful join until it ends for whatever reason. */
export class Session {
  readonly receivers = new Map<string, SlotReceiver>()
  readonly conns = new Set<string>()
  active = true
  endedAt: number | undefined
  endReason: string | undefined
  participantId = ""
  etag = ""
  lastConsentOkAt: number
  lastRecoveryAt = Number.NEGATIVE_INFINITY
  iceRestarts = 0

  constructor(
    readonly generation: number,
    public conn: string,
    readonly publishers: ReadonlyArray<TrackPublisher>,
    readonly startedAt: number
  ) {
    this.conns.add(conn)
    this.lastConsentOkAt = startedAt
  }
}

/**
 * A simulated browser or encoder: its two links to the server, its sessions, and its
 * behaviour (publish, receive, NACK and PLI, consent checks, ICE restart and rejoin).
 * Signalling goes straight to the `RoomRegistry`, as the HTTP handlers would, and fails
 * while the client's uplink is partitioned.
 */
export class SimClient {
  readonly up: Link<UpPacket>
  readonly down: Link<DownPacket>
  state: ClientState = "offline"
  stuck = false
  current: Session | undefined
  readonly sessions: Session[] = []
  /** Packets that came for an old connection, and packets a stuck app never read. */
  staleDrops = 0
  stuckDrops = 0
  /** RTP that arrived on an m-line that is not one of the session's receive slots. */
  unexpectedPackets = 0
  /** RTP it published itself (in any session) that came back to it. */
  ownMediaReceived = 0
  private generation = 0
  private retryPending = false
  /** The kind of each receive m-line of its offers (mids are the same in every session). */
  private readonly receiveKinds = new Map<string, "audio" | "video">()
  private readonly endpoint: ClientEndpoint
  private readonly rng: Rng

  constructor(
    readonly spec: ClientSpec,
    readonly index: number,
    private readonly services: ClientServices
  ) {
    const { world, trace, network, ledger } = services
    this.rng = services.rng(`client/${spec.name}`)
    this.up = new Link(`${spec.name}.up`, world, services.rng(`link/${spec.name}/up`), trace, spec.link)
    this.down = new Link(`${spec.name}.down`, world, services.rng(`link/${spec.name}/down`), trace, spec.link)
    this.up.onDrop = (packet) => {
      if (packet.kind === "rtp") ledger.recordUpstreamDisorder(packet.payload)
    }
    this.up.onHeldBack = (packet) => {
      if (packet.kind === "rtp") ledger.recordUpstreamDisorder(packet.payload)
    }
    network.addLinks(this.up, this.down)
    this.endpoint = {
      name: spec.name,
      room: spec.room,
      sendDown: (packet) => this.down.send(packet, (p) => this.receive(p))
    }
  }

  get name(): string {
    return this.spec.name
  }

  get connected(): boolean {
    return this.state === "connected"
  }

  /** Joins the room with a fresh session. */
  join(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.state === "connected" || this.state === "crashed" || this.state === "left") return Effect.void
      const { world, network, registry, trace } = this.services
      const generation = ++this.generation
      const conn = `${this.name}~${generation}`
      network.claim(conn, this.endpoint)
      if (this.up.isPartitioned) {
        trace.record(`${this.name} join unreachable`)
        this.scheduleRetry()
        return Effect.void
      }
      let session: Session | undefined
      const publishers = this.spec.publishes.map(
        (spec, track) =>
          new TrackPublisher(
            {
              world,
              rng: this.services.rng(`client/${this.name}/${generation}/${track}`),
              origin: this.index,
              session: generation,
              active: () => session?.active === true,
              send: (packet) => this.sendUp(packet),
              conn: () => session?.conn ?? conn
            },
            track,
            String(track),
            spec
          )
      )
      const offer = this.offer(conn, publishers)
      return registry.join(this.spec.room, this.spec.role, offer).pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            Effect.sync(() => {
              trace.record(`${this.name} join failed ${error._tag}`)
              this.scheduleRetry()
            }),
          onSuccess: (joined) =>
            Effect.sync(() => {
              if (this.state !== "offline") return
              session = new Session(generation, conn, publishers, world.now)
              session.participantId = joined.participantId
              session.etag = joined.etag
              for (const section of readAnswer(joined.answer)) {
                const kind = this.receiveKinds.get(section.mid)
                if (kind && section.accepted) {
                  session.receivers.set(section.mid, new SlotReceiver(section.mid, kind, section.ssrc))
                }
              }
              this.sessions.push(session)
              this.current = session
              this.state = "connected"
              trace.record(`${this.name} joined ${joined.participantId} ${conn}`)
              this.startSession(session)
            })
        })
      )
    })
  }

  /** Leaves through signalling (DELETE), or just goes away if the server cannot be reached. */
  leave(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const session = this.current
      this.state = "left"
      if (!session) return Effect.void
      this.endSession(session, "left")
      if (this.up.isPartitioned) return Effect.void
      return this.services.registry
        .leave(this.spec.room, session.participantId)
        .pipe(
          Effect.catch((e) => Effect.sync(() => this.services.trace.record(`${this.name} leave ${e._tag}`)))
        )
    })
  }

  /** Closes the peer connection: the server hears a close notification (if it gets through). */
  close(): void {
    const session = this.current
    this.state = "left"
    if (!session) return
    this.sendUp({ kind: "bye", conn: session.conn })
    this.endSession(session, "closed")
  }

  /** Vanishes without a word: no signalling, no close notification. */
  crash(): void {
    this.state = "crashed"
    if (this.current) this.endSession(this.current, "crashed")
  }

  /** Comes back after a crash or a leave, with a new session. */
  restart(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.state === "crashed" || this.state === "left") this.state = "offline"
      return this.join()
    })
  }

  /** ICE restart through PATCH; a server that no longer knows the participant gets a new join. */
  iceRestart(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const session = this.current
      const { network, registry, trace, world } = this.services
      if (!session || this.state !== "connected") return Effect.void
      session.lastRecoveryAt = world.now
      if (this.up.isPartitioned) {
        trace.record(`${this.name} ice-restart unreachable`)
        return Effect.void
      }
      const conn = `${this.name}~${session.generation}.${++session.iceRestarts}`
      network.claim(conn, this.endpoint)
      const offer = this.offer(conn, session.publishers)
      return registry.renegotiate(this.spec.room, session.participantId, offer, session.etag).pipe(
        Effect.matchEffect({
          onSuccess: (joined) =>
            Effect.sync(() => {
              if (!session.active) return
              session.conn = conn
              session.conns.add(conn)
              session.etag = joined.etag
              session.lastConsentOkAt = world.now
              trace.record(`${this.name} ice-restart ${conn}`)
            }),
          onFailure: (error) =>
            Effect.suspend(() => {
              trace.record(`${this.name} ice-restart failed ${error._tag}`)
              if (error._tag !== "ParticipantNotFound" || !session.active) return Effect.void
              this.endSession(session, "gone")
              this.state = "offline"
              return this.join()
            })
        })
      )
    })
  }

  /** Gives up on the current session and joins again; the server keeps the old one until it times out. */
  rejoin(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.current) this.endSession(this.current, "abandoned")
      if (this.state === "connected") this.state = "offline"
      return this.join()
    })
  }

  /** The app hangs: it reads nothing from the network, but its ICE agent keeps the connection alive. */
  setStuck(stuck: boolean): void {
    this.stuck = stuck
    this.services.trace.record(`${this.name} ${stuck ? "stuck" : "unstuck"}`)
  }

  setLayerPaused(rid: string, paused: boolean): void {
    for (const publisher of this.current?.publishers ?? []) publisher.setPaused(rid, paused)
  }

  private offer(conn: string, publishers: ReadonlyArray<TrackPublisher>): string {
    const sections: OfferSection[] = publishers.map((p) => ({
      mid: p.mid,
      kind: p.spec.kind,
      direction: "sendonly",
      codecs: [p.spec.kind === "audio" ? "opus" : "VP8"],
      ssrcs: p.rids.length > 0 ? [] : p.streams.map((s) => s.ssrc),
      rids: p.rids
    }))
    let mid = publishers.length
    const receive = (kind: "audio" | "video", count: number, codecs: ReadonlyArray<SimCodec>) => {
      for (let i = 0; i < count; i++) {
        const id = String(mid++)
        this.receiveKinds.set(id, kind)
        sections.push({ mid: id, kind, direction: "recvonly", codecs, ssrcs: [], rids: [] })
      }
    }
    receive("audio", this.spec.receives.audio, ["opus"])
    receive("video", this.spec.receives.video, this.spec.videoCodecs)
    return buildOffer(conn, this.name, sections)
  }

  private startSession(session: Session): void {
    const { world } = this.services
    for (const publisher of session.publishers) publisher.start()
    const tick = () => {
      if (!session.active) return
      this.tick(session)
      world.after(TICK_MS, tick)
    }
    world.after(this.rng.int(1, TICK_MS), tick)
    const consent = () => {
      if (!session.active) return
      this.sendUp({ kind: "consent", conn: session.conn })
      world.after(CONSENT_MS, consent)
    }
    world.after(this.rng.int(1, CONSENT_MS), consent)
  }

  private tick(session: Session): void {
    const now = this.services.world.now
    if (!this.stuck) {
      for (const receiver of session.receivers.values()) {
        const feedback = receiver.tick(now)
        if (feedback.nacks.length > 0) {
          this.sendUp({ kind: "nack", conn: session.conn, mid: receiver.mid, seqs: feedback.nacks })
        }
        if (feedback.pli) this.sendUp({ kind: "pli", conn: session.conn, mid: receiver.mid })
      }
    }
    if (
      this.spec.autoReconnect &&
      now - session.lastConsentOkAt > ICE_RESTART_AFTER_MS &&
      now - session.lastRecoveryAt >= RECOVERY_INTERVAL_MS
    ) {
      session.lastRecoveryAt = now
      this.services.fork(this.iceRestart())
    }
  }

  private receive(packet: DownPacket): void {
    const session = this.current
    if (this.state !== "connected" || !session || !session.conns.has(packet.conn)) {
      this.staleDrops++
      return
    }
    if (this.stuck && (packet.kind === "rtp" || packet.kind === "pli" || packet.kind === "nack")) {
      this.stuckDrops++
      return
    }
    const now = this.services.world.now
    switch (packet.kind) {
      case "rtp": {
        const receiver = session.receivers.get(packet.mid)
        if (!receiver) this.unexpectedPackets++
        else if (decodePayload(packet.payload)?.origin === this.index) this.ownMediaReceived++
        else receiver.onPacket(now, packet)
        return
      }
      case "pli":
        for (const p of session.publishers) if (p.mid === packet.mid) p.onKeyframeRequest(packet.ssrc)
        return
      case "nack":
        for (const p of session.publishers) if (p.mid === packet.mid) p.onNack(packet.ssrc, packet.seqs)
        return
      case "consent-ok":
        session.lastConsentOkAt = now
        return
      case "bye":
        this.services.trace.record(`${this.name} closed by server`)
        this.endSession(session, "closed by server")
        this.state = "offline"
        if (this.spec.autoReconnect) this.scheduleRetry(REJOIN_BACKOFF_MS)
        return
    }
  }

  private sendUp(packet: UpPacket): void {
    this.up.send(packet, (p) => this.services.network.toServer(p))
  }

  private endSession(session: Session, reason: string): void {
    if (!session.active) return
    session.active = false
    session.endedAt = this.services.world.now
    session.endReason = reason
    if (this.current === session) this.current = undefined
    this.services.trace.record(`${this.name} session ${session.generation} ended ${reason}`)
  }

  private scheduleRetry(delayMs = 2000): void {
    if (!this.spec.autoReconnect || this.retryPending) return
    this.retryPending = true
    this.services.world.after(delayMs, () => {
      this.retryPending = false
      if (this.state === "offline") this.services.fork(this.join())
    })
  }
}
