import { Cause, Clock, Deferred, Effect, Exit, Fiber, FiberMap, Metric, Queue, Schedule, Scope } from "effect"
import { PrismConfig } from "../config.ts"
import { ControlCounters } from "../control/control-counters.ts"
import { ControlSession, type RoomControlMessage } from "../control/control-session.ts"
import { TopicRouter } from "../control/topic-router.ts"
import { SpeakerRanking } from "../media/active-speaker.ts"
import type { Counters } from "../observability/media-counters.ts"
import * as M from "../observability/metrics.ts"
import { type EndReason, Participant, type ParticipantRole } from "../participant/participant.ts"
import type { Track } from "../track/track.ts"
import type { Transport } from "../transport/transport.ts"
import { participantEntry, publicationEntry, slotBinding, speakersFor } from "./control-views.ts"
import {
  EtagMismatch,
  InvalidOffer,
  type JoinError,
  ParticipantNotFound,
  RoomClosed,
  RoomFull
} from "./errors.ts"
import type { RoomView } from "./room-view.ts"
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
  | { readonly _tag: "ControlOpened"; readonly participantId: string }
  | { readonly _tag: "Control"; readonly participantId: string; readonly message: RoomControlMessage }
  | { readonly _tag: "Tick" }
  | { readonly _tag: "Ended"; readonly participantId: string; readonly reason: EndReason | "failed" }
  | {
      readonly _tag: "Leave"
      readonly participantId: string
      readonly reply: Deferred.Deferred<void, ParticipantNotFound>
    }
  | {
      readonly _tag: "Renegotiate"
      readonly participantId: string
      readonly offer: string
      readonly ifMatch: string | undefined
      readonly reply: Deferred.Deferred<Joined, ParticipantNotFound | EtagMismatch | InvalidOffer>
    }
  | { readonly _tag: "View"; readonly reply: Deferred.Deferred<RoomView> }
  | {
      readonly _tag: "ForceLayer"
      readonly participantId: string
      readonly slotMid: string
      readonly rid: string | undefined
      readonly reply: Deferred.Deferred<boolean, ParticipantNotFound>
    }

interface Member {
  readonly id: string
  readonly role: ParticipantRole
  participant: Participant | undefined
  session: ControlSession | undefined
  name: string | null
  manual: boolean
  pins: ReadonlyArray<string>
  /** Slot mid → the track the client asked for on it. */
  readonly requested: Map<string, string>
  /** Mids of its publications it withdrew with `unpublish`. */
  readonly unpublished: Set<string>
}

const newMember = (id: string, role: ParticipantRole): Member => ({
  id,
  role,
  participant: undefined,
  session: undefined,
  name: null,
  manual: false,
  pins: [],
  requested: new Map(),
  unpublished: new Set()
})

export interface Room {
  readonly name: string
  readonly join: (
    participantId: string,
    role: ParticipantRole,
    offer: string
  ) => Effect.Effect<Joined, JoinError | RoomClosed>
  readonly leave: (participantId: string) => Effect.Effect<void, ParticipantNotFound | RoomClosed>
  readonly renegotiate: (
    participantId: string,
    offer: string,
    ifMatch: string | undefined
  ) => Effect.Effect<Joined, ParticipantNotFound | EtagMismatch | InvalidOffer | RoomClosed>
  readonly view: Effect.Effect<RoomView, RoomClosed>
  /** Operator/test hook: pins a subscriber's video slot to a simulcast layer (undefined releases it). */
  readonly forceLayer: (
    participantId: string,
    slotMid: string,
    rid: string | undefined
  ) => Effect.Effect<boolean, ParticipantNotFound | RoomClosed>
}

const MAILBOX = 256
/** Active-speaker ranking, audio rebinding and coalesced bindings/speakers messages run this often. */
const TICK = "250 millis"

/**
 * A room is one fiber that owns its membership, its directory of tracks and every slot
 * binding; all of it changes only here, in mailbox order. Each participant runs in its own
 * child fiber (and scope) in a FiberMap, so closing the room closes them all.
 * `onEmpty` is called when the room has stayed empty for the grace period.
 */
export const makeRoom = (name: string, onEmpty: Effect.Effect<void>) =>
  Effect.gen(function* () {
    const config = yield* PrismConfig
    const services = yield* Effect.context<Transport | Counters | PrismConfig>()
    const mailbox = yield* Queue.bounded<Command>(MAILBOX)
    const participantFibers = yield* FiberMap.make<string>()
    const members = new Map<string, Member>()
    const tracks: Track[] = []
    let emptySince: Fiber.Fiber<void> | undefined
    const roomScope = yield* Effect.scope

    const log = Effect.annotateLogs({ room: name })

    const controlCounters = new ControlCounters()
    const router = new TopicRouter(controlCounters)
    const ranking = new SpeakerRanking()
    const clock = yield* Clock.Clock

    const publishedOf = (member: Member) =>
      member.participant?.tracks.filter((t) => !member.unpublished.has(t.mid)) ?? []

    const entryOf = (member: Member) =>
      participantEntry(member.id, member.name, member.role, publishedOf(member))

    const roster = () => [...members.values()].flatMap((m) => (m.participant ? [entryOf(m)] : []))

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
      if (!session?.controlOpen || !participant) return
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
        if (!participant || !session) return
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
        Effect.andThen(onEmpty),
        Effect.forkIn(roomScope)
      )
    })

    const disarmEmptyTimer = Effect.gen(function* () {
      if (!emptySince) return
      const fiber = emptySince
      emptySince = undefined
      yield* Fiber.interrupt(fiber)
    })

    const removeMember = (participantId: string, reason: string) =>
      Effect.gen(function* () {
        const member = members.get(participantId)
        if (!member) return
        members.delete(participantId)
        member.session?.close()
        if (member.participant) {
          const published = publishedOf(member)
          withdraw(member.participant.tracks)
          for (const slot of member.participant.slots) slot.unbind()
          yield* Metric.modify(M.publicationsActive, -published.length)
          yield* Metric.modify(M.participantsConnected, -1)
          broadcastDiff({ left: [participantId] })
          yield* rebind
        }
        yield* Effect.logInfo("participant left").pipe(
          Effect.annotateLogs({ participant: participantId, reason })
        )
        yield* armEmptyTimer
      })

    const participantLifecycle = (command: Extract<Command, { _tag: "Join" }>) =>
      Effect.gen(function* () {
        const scope = yield* Effect.scope
        const made = yield* Participant.make({
          room: name,
          id: command.participantId,
          role: command.role,
          offer: command.offer
        }).pipe(
          Scope.provide(scope),
          Effect.catchDefect((defect) =>
            Effect.logError("negotiation crashed", defect).pipe(
              Effect.andThen(Effect.fail(new InvalidOffer({ reason: "the offer could not be negotiated" })))
            )
          ),
          Effect.exit
        )
        if (Exit.isFailure(made)) {
          yield* Deferred.failCause(command.reply, made.cause)
          return yield* Effect.failCause(made.cause)
        }
        const participant = made.value
        const session = new ControlSession({
          participantId: participant.id,
          peer: participant.peer,
          router,
          counters: controlCounters,
          now: () => clock.currentTimeMillisUnsafe(),
          submit: (message) =>
            Queue.offerUnsafe(mailbox, { _tag: "Control", participantId: participant.id, message }),
          opened: () => {
            Queue.offerUnsafe(mailbox, { _tag: "ControlOpened", participantId: participant.id })
          },
          disconnect: () => participant.end("abuse")
        })
        participant.handleData(session)
        yield* Deferred.succeed(command.reply, {
          participantId: participant.id,
          answer: participant.peer.answer,
          etag: participant.etag
        })
        yield* Queue.offer(mailbox, { _tag: "Ready", participant, session })
        return yield* Deferred.await(participant.ended)
      }).pipe(
        Effect.scoped,
        Effect.provide(services),
        Effect.onExit((exit) =>
          Queue.offer(mailbox, {
            _tag: "Ended",
            participantId: command.participantId,
            reason: Exit.isSuccess(exit) ? exit.value : "failed"
          })
        ),
        Effect.annotateLogs({ participant: command.participantId }),
        log
      )

    const handle = (command: Command): Effect.Effect<void> => {
      switch (command._tag) {
        case "Join":
          return Effect.gen(function* () {
            if (members.size >= config.maxParticipantsPerRoom) {
              return yield* Deferred.fail(
                command.reply,
                new RoomFull({ room: name, limit: config.maxParticipantsPerRoom })
              )
            }
            yield* disarmEmptyTimer
            members.set(command.participantId, newMember(command.participantId, command.role))
            yield* FiberMap.run(participantFibers, command.participantId, participantLifecycle(command), {
              startImmediately: true
            })
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
            tracks.push(...command.participant.tracks)
            broadcastDiff({ joined: [entryOf(member)] })
            yield* Metric.modify(M.participantsConnected, 1)
            yield* Metric.modify(M.publicationsActive, command.participant.tracks.length)
            yield* Effect.logInfo("participant joined").pipe(
              Effect.annotateLogs({
                participant: member.id,
                role: member.role,
                publications: command.participant.tracks.length,
                slots: command.participant.slots.length
              })
            )
            yield* rebind
          })
        case "Ended":
          return removeMember(command.participantId, command.reason)
        case "ControlOpened":
          return Effect.sync(() => {
            const member = members.get(command.participantId)
            if (member) flushUpdates(member, publishedById())
          })
        case "Control": {
          const member = members.get(command.participantId)
          return member ? handleControl(member, command.message) : Effect.void
        }
        case "Tick":
          return tick
        case "Leave":
          return Effect.gen(function* () {
            if (!members.has(command.participantId)) {
              return yield* Deferred.fail(
                command.reply,
                new ParticipantNotFound({ room: name, participantId: command.participantId })
              )
            }
            yield* removeMember(command.participantId, "left")
            yield* FiberMap.remove(participantFibers, command.participantId)
            yield* Deferred.succeed(command.reply, undefined)
          })
        case "Renegotiate":
          return Effect.gen(function* () {
            const participant = members.get(command.participantId)?.participant
            if (!participant) {
              return yield* Deferred.fail(
                command.reply,
                new ParticipantNotFound({ room: name, participantId: command.participantId })
              )
            }
            if (command.ifMatch !== undefined && command.ifMatch !== participant.etag) {
              return yield* Deferred.fail(command.reply, new EtagMismatch({ expected: participant.etag }))
            }
            yield* participant.renegotiate(command.offer).pipe(
              Effect.matchEffect({
                onFailure: (e) => Deferred.fail(command.reply, e),
                onSuccess: ({ answer, etag }) =>
                  Deferred.succeed(command.reply, { participantId: participant.id, answer, etag })
              })
            )
          })
        case "ForceLayer": {
          const participant = members.get(command.participantId)?.participant
          if (!participant) {
            return Deferred.fail(
              command.reply,
              new ParticipantNotFound({ room: name, participantId: command.participantId })
            )
          }
          return Clock.currentTimeMillis.pipe(
            Effect.flatMap((nowMs) =>
              Deferred.succeed(command.reply, participant.forceLayer(command.slotMid, command.rid, nowMs))
            )
          )
        }
        case "View":
          return Clock.currentTimeMillis.pipe(
            Effect.flatMap((nowMs) =>
              Deferred.succeed(command.reply, {
                name,
                participants: [...members.values()].map((m) =>
                  m.participant
                    ? m.participant.view(true, nowMs)
                    : { id: m.id, role: m.role, state: "connecting" as const, publications: [], slots: [] }
                )
              })
            )
          )
      }
    }

    yield* Queue.take(mailbox).pipe(
      Effect.flatMap((command) =>
        handle(command).pipe(
          Effect.catchCause((cause) =>
            Cause.hasInterruptsOnly(cause)
              ? Effect.failCause(cause)
              : Effect.logError("room command failed", cause)
          )
        )
      ),
      Effect.forever,
      log,
      Effect.forkScoped
    )
    yield* Effect.sync(() => Queue.offerUnsafe(mailbox, { _tag: "Tick" })).pipe(
      Effect.repeat(Schedule.spaced(TICK)),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* Queue.shutdown(mailbox)
        for (const member of members.values()) {
          if (!member.participant) continue
          yield* Metric.modify(M.participantsConnected, -1)
          yield* Metric.modify(M.publicationsActive, -publishedOf(member).length)
          member.session?.close()
        }
        members.clear()
        yield* controlCounters.flush
      })
    )
    yield* armEmptyTimer

    // Commands still queued when the room closes are never answered: waiters give up on `closed`.
    const closed = yield* Deferred.make<never, RoomClosed>()
    yield* Effect.addFinalizer(() => Deferred.fail(closed, new RoomClosed({ room: name })))
    const ask = <A, E>(make: (reply: Deferred.Deferred<A, E>) => Command): Effect.Effect<A, E | RoomClosed> =>
      Effect.gen(function* () {
        const reply = yield* Deferred.make<A, E>()
        const accepted = yield* Queue.offer(mailbox, make(reply))
        if (!accepted) return yield* new RoomClosed({ room: name })
        return yield* Effect.raceFirst(Deferred.await(reply), Deferred.await(closed))
      })

    const room: Room = {
      name,
      join: (participantId, role, offer) =>
        ask<Joined, JoinError | RoomClosed>((reply) => ({ _tag: "Join", participantId, role, offer, reply })),
      leave: (participantId) =>
        ask<void, ParticipantNotFound>((reply) => ({ _tag: "Leave", participantId, reply })),
      renegotiate: (participantId, offer, ifMatch) =>
        ask<Joined, ParticipantNotFound | EtagMismatch | InvalidOffer>((reply) => ({
          _tag: "Renegotiate",
          participantId,
          offer,
          ifMatch,
          reply
        })),
      view: ask<RoomView, never>((reply) => ({ _tag: "View", reply })),
      forceLayer: (participantId, slotMid, rid) =>
        ask<boolean, ParticipantNotFound>((reply) => ({
          _tag: "ForceLayer",
          participantId,
          slotMid,
          rid,
          reply
        }))
    }
    return room
  })
