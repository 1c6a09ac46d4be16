import { Effect } from "effect"
import type { ParticipantRole } from "../../src/participant/participant.ts"
import type { RoomRegistry } from "../../src/room/room-registry.ts"
import type { Rng } from "../engine/rng.ts"
import type { Trace } from "../engine/trace.ts"
import type { World } from "../engine/world.ts"
import { ArrivalRecorder } from "../feedback/arrival-recorder.ts"
import { decodePayload } from "../media/payload.ts"
import { Link, type LinkSettings } from "../network/link.ts"
import type { ClientEndpoint, Network } from "../network/network.ts"
import type { DownPacket, UpPacket } from "../network/packets.ts"
import type { Ledger } from "../observe/ledger.ts"
import { buildOffer, hasTransportCc, type OfferSection, readAnswer, type SimCodec } from "../sdp/offer.ts"
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
  /**
   * The congestion feedback it sends about its downlink: none (the default, as the scenarios
   * written before the bandwidth work), receiver reports once a second, or transport-wide
   * feedback every 50 ms as well (offered in the SDP; a browser's default).
   */
  readonly feedback: CongestionFeedbackMode
}

export type CongestionFeedbackMode = "none" | "receiver-reports" | "transport-cc"

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
const RECEIVER_REPORT_MS = 1000
/** A client's clock is this far (at most) from the server's: feedback carries arrival times by its own clock. */
const MAX_CLOCK_OFFSET_MS = 3_600_000

/** What the client's RTCP needs to remember between reports. */
interface ReportState {
  readonly arrivals: ArrivalRecorder
  /** Per slot: sequence numbers expected and originals received at the last receiver report. */
  readonly lastCounts: Map<string, { expected: number; received: number }>
  lastReportAt: number
  lastSenderReport: { serverMs: number; receivedAt: number } | undefined
}

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
  /** The answer accepted transport-wide congestion control. */
  transportCc = false
  readonly reports: ReportState = {
    arrivals: new ArrivalRecorder(),
    lastCounts: new Map(),
    lastReportAt: 0,
    lastSenderReport: undefined
  }

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
  /** Padding packets that reached it (discarded after their arrival is noted). */
  paddingReceived = 0
  /** Told about everything its downlink delivers (measurements hook in here). */
  onDownlinkArrival: ((now: number, packet: DownPacket) => void) | undefined
  /** Its own clock minus the server's. */
  readonly clockOffsetMs: number
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
    this.clockOffsetMs = services.rng(`clock/${spec.name}`).int(-MAX_CLOCK_OFFSET_MS, MAX_CLOCK_OFFSET_MS)
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
              session.transportCc = this.spec.feedback === "transport-cc" && hasTransportCc(joined.answer)
              session.reports.lastReportAt = world.now
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
    return buildOffer(conn, this.name, sections, this.spec.feedback === "transport-cc")
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
      this.sendCongestionFeedback(session, now)
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

  private sendCongestionFeedback(session: Session, now: number): void {
    if (this.spec.feedback === "none") return
    const reports = session.reports
    if (session.transportCc) {
      const message = reports.arrivals.take()
      if (message) this.sendUp({ kind: "twcc", conn: session.conn, ...message })
    }
    if (now - reports.lastReportAt < RECEIVER_REPORT_MS) return
    reports.lastReportAt = now
    let expected = 0
    let received = 0
    for (const receiver of session.receivers.values()) {
      const last = reports.lastCounts.get(receiver.mid) ?? { expected: 0, received: 0 }
      const counts = { expected: receiver.expectedPackets, received: receiver.originalsReceived }
      expected += counts.expected - last.expected
      received += counts.received - last.received
      reports.lastCounts.set(receiver.mid, counts)
    }
    // RFC 3550 6.4.1: the fraction of the packets expected in the interval that did not arrive, in 1/256.
    const lost = Math.max(0, expected - received)
    const sr = reports.lastSenderReport
    this.sendUp({
      kind: "rr",
      conn: session.conn,
      fractionLost256: expected <= 0 ? 0 : Math.min(255, Math.floor((lost * 256) / expected)),
      lastSenderReportMs: sr?.serverMs,
      delaySinceSenderReportMs: sr === undefined ? 0 : now - sr.receivedAt
    })
  }

  /** Transport-level arrival bookkeeping, done by the browser's RTP stack before the app sees the packet. */
  private noteArrival(session: Session, packet: DownPacket, now: number): void {
    if (packet.kind === "sr") {
      session.reports.lastSenderReport = { serverMs: packet.sentAtMs, receivedAt: now }
      return
    }
    if (packet.kind !== "rtp" && packet.kind !== "padding") return
    if (session.transportCc && packet.transportSeq !== undefined) {
      session.reports.arrivals.onArrival(packet.transportSeq, now + this.clockOffsetMs)
    }
    if (packet.kind === "padding") this.paddingReceived++
  }

  private receive(packet: DownPacket): void {
    this.onDownlinkArrival?.(this.services.world.now, packet)
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
    this.noteArrival(session, packet, now)
    switch (packet.kind) {
      case "padding":
      case "sr":
        return
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
