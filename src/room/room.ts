import { Cause, Clock, Deferred, Effect, Exit, Fiber, FiberMap, Metric, Queue, Scope } from "effect"
import { PrismConfig } from "../config.ts"
import type { Counters } from "../observability/media-counters.ts"
import * as M from "../observability/metrics.ts"
import { type EndReason, Participant, type ParticipantRole } from "../participant/participant.ts"
import type { Track } from "../track/track.ts"
import type { Transport } from "../transport/transport.ts"
import {
  EtagMismatch,
  InvalidOffer,
  type JoinError,
  ParticipantNotFound,
  RoomClosed,
  RoomFull
} from "./errors.ts"
import type { RoomView } from "./room-view.ts"
import { assignSlots } from "./slot-binding.ts"

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
  | { readonly _tag: "Ready"; readonly participant: Participant }
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

interface Member {
  readonly id: string
  readonly role: ParticipantRole
  participant: Participant | undefined
}

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
}

const MAILBOX = 256

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

    const rebind = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const live = new Set(tracks)
      const slots = [...members.values()].flatMap((m) => m.participant?.slots ?? [])
      for (const slot of slots) if (slot.track && !live.has(slot.track)) slot.unbind()
      const byId = new Map(tracks.map((t) => [t.id, t]))
      const assignment = assignSlots(
        tracks.map((t) => ({ id: t.id, ownerId: t.participantId, kind: t.kind, codec: t.codec })),
        [...members.values()].flatMap((m) =>
          (m.participant?.slots ?? []).map((s) => ({
            key: s.key,
            ownerId: m.id,
            kind: s.kind,
            codecs: s.codecs.map((c) => c.name),
            boundTo: s.track?.id
          }))
        )
      )
      const slotByKey = new Map(slots.map((s) => [s.key, s]))
      for (const [slotKey, trackId] of assignment) {
        const slot = slotByKey.get(slotKey)
        const track = byId.get(trackId)
        if (slot && track) slot.bind(track, now)
      }
    })

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
        if (member.participant) {
          const gone = new Set(member.participant.tracks)
          for (let i = tracks.length - 1; i >= 0; i--) if (gone.has(tracks[i]!)) tracks.splice(i, 1)
          for (const slot of member.participant.slots) slot.unbind()
          yield* Metric.modify(M.publicationsActive, -member.participant.tracks.length)
          yield* Metric.modify(M.participantsConnected, -1)
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
        yield* Deferred.succeed(command.reply, {
          participantId: participant.id,
          answer: participant.peer.answer,
          etag: participant.etag
        })
        yield* Queue.offer(mailbox, { _tag: "Ready", participant })
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
            members.set(command.participantId, {
              id: command.participantId,
              role: command.role,
              participant: undefined
            })
            yield* FiberMap.run(participantFibers, command.participantId, participantLifecycle(command), {
              startImmediately: true
            })
          })
        case "Ready":
          return Effect.gen(function* () {
            const member = members.get(command.participant.id)
            if (!member) return
            member.participant = command.participant
            tracks.push(...command.participant.tracks)
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
        case "View":
          return Deferred.succeed(command.reply, {
            name,
            participants: [...members.values()].map((m) =>
              m.participant
                ? m.participant.view(true)
                : { id: m.id, role: m.role, state: "connecting" as const, publications: [], slots: [] }
            )
          })
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
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* Queue.shutdown(mailbox)
        for (const member of members.values()) {
          if (!member.participant) continue
          yield* Metric.modify(M.participantsConnected, -1)
          yield* Metric.modify(M.publicationsActive, -member.participant.tracks.length)
        }
        members.clear()
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
      view: ask<RoomView, never>((reply) => ({ _tag: "View", reply }))
    }
    return room
  })
