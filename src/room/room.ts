import { Cause, Clock, Deferred, Effect, Exit, Fiber, FiberMap, Metric, Schedule, Scope } from "effect"
import { PrismConfig } from "../config.ts"
import { ControlCounters } from "../control/control-counters.ts"
import { ControlSession, type RoomControlMessage } from "../control/control-session.ts"
import { TopicRouter } from "../control/topic-router.ts"
import { forkSupervised, Supervisor } from "../fault/supervision.ts"
import { SpeakerRanking } from "../media/active-speaker.ts"
import type { Counters } from "../observability/media-counters.ts"
import * as M from "../observability/metrics.ts"
import { type EndReason, Participant, type ParticipantRole } from "../participant/participant.ts"
import type { Track } from "../track/track.ts"
import type { Transport } from "../transport/transport.ts"
import { participantEntry, publicationEntry, slotBinding, speakersFor } from "./control-views.ts"
import {
  type EtagMismatch,
  InvalidOffer,
  type JoinError,
  ParticipantNotFound,
  RoomBusy,
  RoomClosed,
  RoomFull
} from "./errors.ts"
import { Mailbox, RETRY_AFTER_SECONDS } from "./mailbox.ts"
import type { ParticipantView, RoomView } from "./room-view.ts"
import { assignSlots, type SubscriberIntent } from "./slot-binding.ts"

export interface Joined {
  readonly participantId: string
  readonly answer: string
  readonly etag: string
}

type Command =
  | {
      readonly _tag: "Join"
      readonly participantId: string
      readonly role: ParticipantRole
      readonly offer: string
      readonly reply: Deferred.Deferred<Joined, JoinError | RoomClosed>
    }
  | { readonly _tag: "Ready"; readonly participant: Participant; readonly session: ControlSession }
  | { readonly _tag: "Connected"; readonly participantId: string }
  | { readonly _tag: "Ended"; readonly participantId: string; readonly reason: LeaveReason }
  | { readonly _tag: "ControlOpened"; readonly participantId: string }
  | { readonly _tag: "Control"; readonly participantId: string; readonly message: RoomControlMessage }
  | { readonly _tag: "Tick" }

/** Why a member left: its participant's end, or its offer was refused before it had one. */
type LeaveReason = EndReason | "rejected"

interface Member {
  readonly id: string
  readonly role: ParticipantRole
  /** Set on its own fiber once negotiated, just before the client is answered: reads see it from then on. */
  negotiated: Participant | undefined
  /** Set by the room when it takes the participant in (`Ready`). */
  participant: Participant | undefined
  session: ControlSession | undefined
  /** ICE and DTLS came up: its tracks are in the directory and it is on the roster. */
  connected: boolean
  name: string | null
  manual: boolean
  pins: ReadonlyArray<string>
  /** Slot mid → the track the client asked for on it. */
  readonly requested: Map<string, string>
  /** Mids of its publications it withdrew with `unpublish`. */
  readonly unpublished: Set<string>
}

/** What reads of the room see: published by the room fiber after every change of membership. */
type MemberSnapshot = Pick<Member, "id" | "role" | "negotiated">

export interface Room {
  readonly name: string
  readonly join: (
    participantId: string,
    role: ParticipantRole,
    offer: string
  ) => Effect.Effect<Joined, JoinError | RoomClosed>
  /** Ends the participant; its own fiber closes the peer connection and the room forgets it. */
  readonly leave: (participantId: string) => Effect.Effect<void, ParticipantNotFound>
  readonly renegotiate: (
    participantId: string,
    offer: string,
    ifMatch: string | undefined
  ) => Effect.Effect<Joined, ParticipantNotFound | EtagMismatch | InvalidOffer | RoomBusy>
  readonly view: Effect.Effect<RoomView, RoomClosed>
  /** Operator/test hook: pins a subscriber's video slot to a simulcast layer (undefined releases it). */
  readonly forceLayer: (
    participantId: string,
    slotMid: string,
    rid: string | undefined
  ) => Effect.Effect<boolean, ParticipantNotFound>
}

/** Active-speaker ranking, audio rebinding and coalesced bindings/speakers messages run this often. */
const TICK = "250 millis"
/** Joins waiting for the room at once; more are answered 503. */
const JOIN_QUOTA = 32
/** werift answers in milliseconds; a join still negotiating after this gets 503. */
const NEGOTIATION_DEADLINE = "10 seconds"

/**
 * A room is one fiber that owns its membership, its directory of tracks and every slot
 * binding; all of it changes only here, in mailbox order. Each participant runs in its own
 * child fiber (and scope) in a FiberMap, so closing the room closes them all.
 *
 * The room never waits on anything that needs its own mailbox, nor on a peer connection:
 * negotiating, renegotiating and closing run on the participants' fibers (or the caller's),
 * and the room only records what happened. Reads (views, the layer hook) use the snapshot the
 * room publishes. `close` is run (detached) when the room has stayed empty for the grace
 * period or one of its fibers failed.
 */
export const makeRoom = (name: string, close: Effect.Effect<void>) =>
  Effect.gen(function* () {
    const config = yield* PrismConfig
    const services = yield* Effect.context<Transport | Counters | PrismConfig>()
    const mailbox = yield* Mailbox.make<Command>(name)
    const participantFibers = yield* FiberMap.make<string>()
    const members = new Map<string, Member>()
    /** Publications of connected members, oldest first: what slots can be bound to. */
    const tracks: Track[] = []
    let snapshot: ReadonlyArray<MemberSnapshot> = []
    let emptySince: Fiber.Fiber<void> | undefined
    let tickPending = false
    let closing = false
    const roomScope = yield* Effect.scope

    const log = Effect.annotateLogs({ room: name })
    const closeDetached = Effect.suspend(() => {
      if (closing) return Effect.void
      closing = true
      return Effect.forkDetach(close).pipe(Effect.asVoid)
    })

    const controlCounters = new ControlCounters()
    const router = new TopicRouter(controlCounters)
    const ranking = new SpeakerRanking()
    const clock = yield* Clock.Clock

    const publishSnapshot = () => {
      snapshot = [...members.values()]
    }

    const publishedOf = (member: Member) =>
      member.participant?.tracks.filter((t) => !member.unpublished.has(t.mid)) ?? []

    const entryOf = (member: Member) =>
      participantEntry(member.id, member.name, member.role, publishedOf(member))

    const roster = () => [...members.values()].flatMap((m) => (m.connected ? [entryOf(m)] : []))

    const sendRoster = (session: ControlSession) => {
      session.rosterStale = !session.send({ type: "roster", participants: roster() })
    }

    /** A roster change for every welcomed client; one that missed a diff gets the full roster instead. */
    const broadcastDiff = (diff: {
      readonly joined?: ReturnType<typeof entryOf>[]
      readonly left?: string[]
      readonly published?: { participantId: string; publication: ReturnType<typeof publicationEntry> }[]
      readonly unpublished?: string[]
      readonly updated?: ReturnType<typeof entryOf>[]
    }) => {
      for (const member of members.values()) {
        const session = member.session
        if (!session?.welcomed) continue
        if (session.rosterStale) {
          sendRoster(session)
          continue
        }
        const sent = session.send({
          type: "roster-diff",
          joined: diff.joined ?? [],
          left: diff.left ?? [],
          published: diff.published ?? [],
          unpublished: diff.unpublished ?? [],
          ...(diff.updated ? { updated: diff.updated } : {})
        })
        if (!sent) session.rosterStale = true
      }
    }

    /** Sends bindings and speakers to a welcomed client when they changed since the last ones it got. */
    const flushUpdates = (member: Member, published: ReadonlyMap<string, Track>) => {
      const session = member.session
      const participant = member.participant
      if (!session?.controlOpen || !participant || !member.connected) return
      if (!session.welcomed) {
        session.welcomed = session.send({
          type: "welcome",
          participantId: member.id,
          room: name,
          protocol: 1,
          mode: member.manual ? "manual" : "auto",
          slots: participant.slots.map((s) => ({ mid: s.mid, kind: s.kind }))
        })
        if (!session.welcomed) return
        sendRoster(session)
      } else if (session.rosterStale) sendRoster(session)
      const bindings = JSON.stringify(participant.slots.map(slotBinding))
      if (bindings !== session.lastBindings) {
        if (session.send({ type: "bindings", slots: participant.slots.map(slotBinding) })) {
          session.lastBindings = bindings
        }
      }
      const speakers = speakersFor(participant.slots, ranking, published)
      const speakersKey = JSON.stringify(speakers)
      if (speakersKey !== session.lastSpeakers && session.send({ type: "speakers", speakers })) {
        session.lastSpeakers = speakersKey
      }
    }

    const publishedById = () => new Map(tracks.map((t) => [t.id, t]))

    const rebind = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const live = new Set(tracks)
      const slots = [...members.values()].flatMap((m) => m.participant?.slots ?? [])
      for (const slot of slots) if (slot.track && !live.has(slot.track)) slot.unbind()
      const byId = publishedById()
      const intents = new Map<string, SubscriberIntent>()
      for (const m of members.values()) intents.set(m.id, { manual: m.manual, pins: m.pins })
      const assignment = assignSlots(
        tracks.map((t) => ({
          id: t.id,
          ownerId: t.participantId,
          kind: t.kind,
          codec: t.codec,
          flowing: t.flowing(now),
          speech: t.kind === "audio" ? ranking.state(t.id) : undefined
        })),
        [...members.values()].flatMap((m) =>
          (m.participant?.slots ?? []).map((s) => ({
            key: s.key,
            ownerId: m.id,
            kind: s.kind,
            codecs: s.codecs.map((c) => c.name),
            boundTo: s.track?.id,
            requested: m.requested.get(s.mid)
          }))
        ),
        { intents }
      )
      const slotByKey = new Map(slots.map((s) => [s.key, s]))
      for (const [slotKey, trackId] of assignment) {
        const slot = slotByKey.get(slotKey)
        if (!slot) continue
        const track = trackId === undefined ? undefined : byId.get(trackId)
        if (track) slot.bind(track, now)
        else slot.unbind()
      }
    })

    /** Takes tracks out of the directory: unbound everywhere, forgotten by requests and the ranking. */
    const withdraw = (gone: ReadonlyArray<Track>) => {
      const set = new Set(gone)
      for (let i = tracks.length - 1; i >= 0; i--) if (set.has(tracks[i]!)) tracks.splice(i, 1)
      const ids = new Set(gone.map((t) => t.id))
      for (const track of gone) ranking.remove(track.id)
      for (const member of members.values()) {
        for (const [mid, trackId] of member.requested) if (ids.has(trackId)) member.requested.delete(mid)
      }
    }

    const tick = Effect.gen(function* () {
      tickPending = false
      const now = yield* Clock.currentTimeMillis
      for (const track of tracks) {
        if (track.kind === "audio")
          ranking.update(track.id, track.audioLevel.ranked, track.audioLevel.read(), now)
      }
      yield* rebind
      const published = publishedById()
      for (const member of members.values()) flushUpdates(member, published)
      yield* controlCounters.flush
    })

    const handleControl = (member: Member, message: RoomControlMessage) =>
      Effect.gen(function* () {
        const participant = member.participant
        const session = member.session
        if (!participant || !session || !member.connected) return
        const fail = (code: Parameters<ControlSession["error"]>[0], text: string) =>
          session.error(code, text, message.id)
        switch (message.type) {
          case "hello":
            member.name = message.name
            broadcastDiff({ updated: [entryOf(member)] })
            return
          case "subscribe": {
            const slot = participant.slots.find((s) => s.mid === message.mid)
            if (!slot) return fail("unknown-slot", `no receiving m-line with mid ${message.mid}`)
            if (message.trackId === "auto") member.requested.delete(slot.mid)
            else {
              const track = tracks.find((t) => t.id === message.trackId)
              if (!track || track.participantId === member.id || !slot.accepts(track)) {
                return fail("unknown-track", `no track ${message.trackId} this slot can carry`)
              }
              member.requested.set(slot.mid, track.id)
            }
            const now = yield* Clock.currentTimeMillis
            slot.setPreferences(
              {
                maxHeight: message.maxHeight,
                minHeight: message.minHeight,
                priority: message.priority ?? 0,
                paused: message.paused ?? false
              },
              now
            )
            return yield* rebind
          }
          case "mode":
            member.manual = message.mode === "manual"
            return yield* rebind
          case "pin-audio":
            member.pins = [...message.trackIds]
            return yield* rebind
          case "publish":
          case "unpublish": {
            const track = participant.tracks.find((t) => t.mid === message.mid)
            if (!track) return fail("unknown-publication", `no publication with mid ${message.mid}`)
            const withdrawn = member.unpublished.has(track.mid)
            if (message.type === "unpublish" && !withdrawn) {
              member.unpublished.add(track.mid)
              withdraw([track])
              yield* Metric.modify(M.publicationsActive, -1)
              broadcastDiff({ unpublished: [track.id] })
              return yield* rebind
            }
            if (message.type === "publish" && withdrawn) {
              member.unpublished.delete(track.mid)
              tracks.push(track)
              yield* Metric.modify(M.publicationsActive, 1)
              broadcastDiff({
                published: [{ participantId: member.id, publication: publicationEntry(track) }]
              })
              return yield* rebind
            }
            return
          }
        }
      }).pipe(Effect.ensuring(Effect.sync(() => member.session?.settled())))

    const armEmptyTimer = Effect.gen(function* () {
      if (members.size > 0 || emptySince) return
      emptySince = yield* Effect.sleep(config.emptyRoomGrace).pipe(
        Effect.andThen(closeDetached),
        Effect.forkIn(roomScope)
      )
    })

    const disarmEmptyTimer = Effect.gen(function* () {
      if (!emptySince) return
      const fiber = emptySince
      emptySince = undefined
      yield* Fiber.interrupt(fiber)
    })

    /** The member's tracks join the directory and it joins the roster. */
    const connectMember = (member: Member) =>
      Effect.gen(function* () {
        if (member.connected || !member.participant) return
        member.connected = true
        const published = publishedOf(member)
        tracks.push(...published)
        broadcastDiff({ joined: [entryOf(member)] })
        yield* Metric.modify(M.participantsConnected, 1)
        yield* Metric.modify(M.publicationsActive, published.length)
        yield* Effect.logInfo("participant connected").pipe(Effect.annotateLogs({ participant: member.id }))
        yield* rebind
      })

    /** Forgets a member at once; its participant's own fiber tears the rest down. */
    const removeMember = (participantId: string, reason: LeaveReason) =>
      Effect.gen(function* () {
        const member = members.get(participantId)
        if (!member) return
        members.delete(participantId)
        publishSnapshot()
        member.session?.close()
        if (member.participant) {
          for (const slot of member.participant.slots) slot.unbind()
          if (member.connected) {
            const published = publishedOf(member)
            withdraw(member.participant.tracks)
            yield* Metric.modify(M.publicationsActive, -published.length)
            yield* Metric.modify(M.participantsConnected, -1)
            broadcastDiff({ left: [participantId] })
          }
          yield* rebind
        }
        const log = reason === "failed" ? Effect.logError : Effect.logInfo
        yield* log("participant left").pipe(Effect.annotateLogs({ participant: participantId, reason }))
        yield* armEmptyTimer
      })

    const participantLifecycle = (command: Extract<Command, { _tag: "Join" }>, member: Member) => {
      const busy = new RoomBusy({ room: name, retryAfterSeconds: RETRY_AFTER_SECONDS })
      const run = Effect.gen(function* () {
        const scope = yield* Effect.scope
        const made = yield* Participant.make({
          room: name,
          id: command.participantId,
          role: command.role,
          offer: command.offer,
          onConnected: () => mailbox.post({ _tag: "Connected", participantId: command.participantId })
        }).pipe(
          Scope.provide(scope),
          Effect.timeoutOrElse({ duration: NEGOTIATION_DEADLINE, orElse: () => Effect.fail(busy) }),
          Effect.catchDefect((defect) =>
            Effect.logError("negotiation crashed", defect).pipe(
              Effect.andThen(Effect.fail(new InvalidOffer({ reason: "the offer could not be negotiated" })))
            )
          ),
          Effect.exit
        )
        if (Exit.isFailure(made)) {
          yield* Deferred.failCause(command.reply, made.cause)
          return "rejected" as const
        }
        const participant = made.value
        const session = new ControlSession({
          participantId: participant.id,
          peer: participant.peer,
          router,
          counters: controlCounters,
          now: () => clock.currentTimeMillisUnsafe(),
          submit: (message) => {
            mailbox.post({ _tag: "Control", participantId: participant.id, message })
            return true
          },
          opened: () => mailbox.post({ _tag: "ControlOpened", participantId: participant.id }),
          disconnect: () => participant.end("abuse")
        })
        participant.handleData(session)
        member.negotiated = participant
        yield* Deferred.succeed(command.reply, {
          participantId: participant.id,
          answer: participant.peer.answer,
          etag: participant.etag
        })
        mailbox.post({ _tag: "Ready", participant, session })
        return yield* Deferred.await(participant.ended)
      })
      // The room hears of the end before the peer connection closes (on this fiber, as the scope ends).
      const tellRoom = Effect.onExit(
        (exit: Exit.Exit<LeaveReason, unknown>): Effect.Effect<void> =>
          Effect.gen(function* () {
            if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) {
              yield* Effect.logError("participant failed", exit.cause)
            }
            mailbox.post({
              _tag: "Ended",
              participantId: command.participantId,
              reason: Exit.isSuccess(exit) ? exit.value : "failed"
            })
          })
      )
      return run.pipe(
        tellRoom,
        Effect.scoped,
        Effect.provide(services),
        Effect.ensuring(Deferred.fail(command.reply, new RoomClosed({ room: name }))),
        Effect.annotateLogs({ participant: command.participantId }),
        log
      )
    }

    const handle = (command: Command): Effect.Effect<void> => {
      switch (command._tag) {
        case "Join":
          return Effect.gen(function* () {
            // The registry opens a fresh room for it.
            if (closing) return yield* Deferred.fail(command.reply, new RoomClosed({ room: name }))
            if (members.size >= config.maxParticipantsPerRoom) {
              return yield* Deferred.fail(
                command.reply,
                new RoomFull({ room: name, limit: config.maxParticipantsPerRoom })
              )
            }
            yield* disarmEmptyTimer
            const member: Member = {
              id: command.participantId,
              role: command.role,
              negotiated: undefined,
              participant: undefined,
              session: undefined,
              connected: false,
              name: null,
              manual: false,
              pins: [],
              requested: new Map(),
              unpublished: new Set()
            }
            members.set(member.id, member)
            publishSnapshot()
            // Not started here: negotiating (werift's synchronous set-up included) is the participant's work.
            yield* FiberMap.run(participantFibers, member.id, participantLifecycle(command, member))
          })
        case "Ready":
          return Effect.gen(function* () {
            const member = members.get(command.participant.id)
            if (!member) {
              command.session.close()
              return
            }
            member.participant = command.participant
            member.session = command.session
            publishSnapshot()
            yield* Effect.logInfo("participant joined").pipe(
              Effect.annotateLogs({
                participant: member.id,
                role: member.role,
                publications: command.participant.tracks.length,
                slots: command.participant.slots.length
              })
            )
            if (command.participant.connected) yield* connectMember(member)
          })
        case "Connected": {
          const member = members.get(command.participantId)
          return member ? connectMember(member) : Effect.void
        }
        case "Ended":
          return removeMember(command.participantId, command.reason)
        case "ControlOpened":
          return Effect.sync(() => {
            const member = members.get(command.participantId)
            if (member) flushUpdates(member, publishedById())
          })
        case "Control": {
          const member = members.get(command.participantId)
          if (!member) return Effect.void
          return handleControl(member, command.message)
        }
        case "Tick":
          return tick
      }
    }

    // A failure of the room's own fibers closes the room (its participants with it); the next
    // join gets a fresh one.
    const supervisor: Supervisor = {
      subject: name,
      failed: () => closeDetached
    }
    yield* forkSupervised("room", mailbox.take.pipe(Effect.flatMap(handle), Effect.forever)).pipe(
      Effect.provideService(Supervisor, supervisor),
      log
    )
    yield* forkSupervised(
      "room",
      Effect.sync(() => {
        if (tickPending) return
        tickPending = true
        mailbox.post({ _tag: "Tick" })
      }).pipe(Effect.repeat(Schedule.spaced(TICK)))
    ).pipe(Effect.provideService(Supervisor, supervisor), log)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        for (const member of members.values()) {
          member.session?.close()
          if (!member.connected) continue
          yield* Metric.modify(M.participantsConnected, -1)
          yield* Metric.modify(M.publicationsActive, -publishedOf(member).length)
        }
        members.clear()
        snapshot = []
        yield* controlCounters.flush
      })
    )
    yield* armEmptyTimer

    /** A participant still in the room: one that ended is gone for readers before the room has forgotten it. */
    const participantOf = (participantId: string) => {
      const participant = snapshot.find((m) => m.id === participantId)?.negotiated
      return participant && !participant.hasEnded ? participant : undefined
    }
    const notFound = (participantId: string) => new ParticipantNotFound({ room: name, participantId })

    const room: Room = {
      name,
      join: (participantId, role, offer) =>
        mailbox.ask<Joined, JoinError | RoomClosed>("join", JOIN_QUOTA, (reply) => ({
          _tag: "Join",
          participantId,
          role,
          offer,
          reply
        })),
      leave: (participantId) =>
        Effect.suspend(() => {
          const participant = participantOf(participantId)
          if (!participant) return Effect.fail(notFound(participantId))
          participant.end("left")
          return Effect.void
        }),
      renegotiate: (participantId, offer, ifMatch) =>
        Effect.suspend(() => {
          const participant = participantOf(participantId)
          if (!participant) return Effect.fail(notFound(participantId))
          return participant
            .renegotiate(offer, ifMatch)
            .pipe(Effect.map(({ answer, etag }) => ({ participantId, answer, etag })))
        }),
      view: Effect.gen(function* () {
        if (closing && snapshot.length === 0) return yield* new RoomClosed({ room: name })
        const nowMs = yield* Clock.currentTimeMillis
        return {
          name,
          participants: snapshot.flatMap((m): ParticipantView[] => {
            if (!m.negotiated)
              return [{ id: m.id, role: m.role, state: "connecting", publications: [], slots: [] }]
            return m.negotiated.hasEnded ? [] : [m.negotiated.view(nowMs)]
          })
        }
      }),
      forceLayer: (participantId, slotMid, rid) =>
        Effect.gen(function* () {
          const participant = participantOf(participantId)
          if (!participant) return yield* notFound(participantId)
          return participant.forceLayer(slotMid, rid, yield* Clock.currentTimeMillis)
        })
    }
    return room
  })
