import { Clock, Context, Deferred, Effect, FiberMap, Layer, Metric, Random, Semaphore } from "effect"
import { PrismConfig } from "../config.ts"
import { joinDuration, joinsRejected, roomsOpen } from "../observability/metrics.ts"
import type { ParticipantRole } from "../participant/participant.ts"
import {
  type EtagMismatch,
  type InvalidOffer,
  type JoinError,
  ParticipantNotFound,
  type RoomBusy,
  type RoomClosed,
  RoomNotFound,
  ShuttingDown,
  TooManyRooms
} from "./errors.ts"
import { type Joined, makeRoom, type Room } from "./room.ts"
import type { RoomView } from "./room-view.ts"

export class RoomRegistry extends Context.Service<
  RoomRegistry,
  {
    readonly join: (room: string, role: ParticipantRole, offer: string) => Effect.Effect<Joined, JoinError>
    readonly leave: (room: string, participantId: string) => Effect.Effect<void, ParticipantNotFound>
    readonly renegotiate: (
      room: string,
      participantId: string,
      offer: string,
      ifMatch: string | undefined
    ) => Effect.Effect<Joined, ParticipantNotFound | EtagMismatch | InvalidOffer | RoomBusy>
    readonly view: (room: string) => Effect.Effect<RoomView, RoomNotFound>
    readonly list: Effect.Effect<ReadonlyArray<RoomView>>
    /** Pins a subscriber's video slot to the simulcast layer `rid` (undefined releases it); false when no such layer flows. */
    readonly forceLayer: (
      room: string,
      participantId: string,
      slotMid: string,
      rid: string | undefined
    ) => Effect.Effect<boolean, ParticipantNotFound>
  }
>()("prism/RoomRegistry") {
  /**
   * Rooms live in a FiberMap, each under a key of its own (a room that closes and the fresh one
   * of the same name never share one): removing a key closes that room and everyone in it.
   */
  static readonly layer = Layer.effect(
    RoomRegistry,
    Effect.gen(function* () {
      const config = yield* PrismConfig
      const roomFibers = yield* FiberMap.make<number>()
      const rooms = new Map<string, { readonly room: Room; readonly key: number }>()
      let nextKey = 0
      const lock = yield* Semaphore.make(1)
      let draining = false
      const roomServices = yield* Effect.context<Effect.Services<ReturnType<typeof makeRoom>>>()

      /** Forgets the room at once (the next join opens a fresh one), then closes it. */
      const remove = (name: string, room: Room) =>
        Effect.gen(function* () {
          const entry = yield* lock.withPermits(1)(
            Effect.sync(() => {
              const entry = rooms.get(name)
              if (entry?.room !== room) return undefined
              rooms.delete(name)
              return entry
            })
          )
          if (!entry) return
          yield* Metric.modify(roomsOpen, -1)
          yield* Effect.logInfo("room closed").pipe(Effect.annotateLogs({ room: name }))
          yield* FiberMap.remove(roomFibers, entry.key)
        })

      const open = (name: string): Effect.Effect<Room, TooManyRooms | ShuttingDown> =>
        lock.withPermits(1)(
          Effect.gen(function* () {
            if (draining) return yield* new ShuttingDown()
            const existing = rooms.get(name)
            if (existing) return existing.room
            if (rooms.size >= config.maxRooms) return yield* new TooManyRooms({ limit: config.maxRooms })
            const ready = yield* Deferred.make<Room>()
            const key = nextKey++
            yield* FiberMap.run(
              roomFibers,
              key,
              Effect.gen(function* () {
                const self = yield* Deferred.make<Room>()
                const room = yield* makeRoom(
                  name,
                  Deferred.await(self).pipe(Effect.flatMap((r) => remove(name, r)))
                )
                yield* Deferred.succeed(self, room)
                yield* Deferred.succeed(ready, room)
                return yield* Effect.never
              }).pipe(Effect.scoped, Effect.provide(roomServices)),
              { startImmediately: true }
            )
            const room = yield* Deferred.await(ready)
            rooms.set(name, { room, key })
            yield* Metric.modify(roomsOpen, 1)
            yield* Effect.logInfo("room opened").pipe(Effect.annotateLogs({ room: name }))
            return room
          })
        )

      const lookup = (name: string) => Effect.sync(() => rooms.get(name)?.room)

      const join = (name: string, role: ParticipantRole, offer: string): Effect.Effect<Joined, JoinError> =>
        Effect.gen(function* () {
          const started = yield* Clock.currentTimeMillis
          const participantId = `pa_${(yield* Random.nextIntBetween(0, 0x7fffffff)).toString(36)}${(yield* Random.nextIntBetween(0, 0x7fffffff)).toString(36)}`
          const attempt = open(name).pipe(Effect.flatMap((room) => room.join(participantId, role, offer)))
          // A room that closed between lookup and join is gone from the map by now: one retry opens a fresh one.
          const joined = yield* attempt
            .pipe(Effect.catchTag("RoomClosed", () => attempt))
            .pipe(Effect.catchTag("RoomClosed", () => Effect.fail(new ShuttingDown())))
          const elapsed = (yield* Clock.currentTimeMillis) - started
          yield* Metric.update(joinDuration, elapsed / 1000)
          return joined
        }).pipe(Effect.tapError(() => Metric.update(joinsRejected, 1)))

      const withRoom = <A, E>(
        name: string,
        participantId: string,
        f: (room: Room) => Effect.Effect<A, E | RoomClosed>
      ): Effect.Effect<A, E | ParticipantNotFound> =>
        Effect.gen(function* () {
          const room = yield* lookup(name)
          if (!room) return yield* new ParticipantNotFound({ room: name, participantId })
          return yield* f(room).pipe(
            Effect.catchTag("RoomClosed", () =>
              Effect.fail(new ParticipantNotFound({ room: name, participantId }))
            )
          ) as Effect.Effect<A, E | ParticipantNotFound>
        })

      // Finalizers run last-in first-out: joins stop before the FiberMap closes the rooms.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          draining = true
        }).pipe(Effect.andThen(Effect.logInfo("closing every room")))
      )

      return RoomRegistry.of({
        join,
        leave: (name, participantId) => withRoom(name, participantId, (room) => room.leave(participantId)),
        renegotiate: (name, participantId, offer, ifMatch) =>
          withRoom(name, participantId, (room) => room.renegotiate(participantId, offer, ifMatch)),
        forceLayer: (name, participantId, slotMid, rid) =>
          withRoom(name, participantId, (room) => room.forceLayer(participantId, slotMid, rid)),
        view: (name) =>
          Effect.gen(function* () {
            const room = yield* lookup(name)
            if (!room) return yield* new RoomNotFound({ room: name })
            return yield* room.view.pipe(
              Effect.catchTag("RoomClosed", () => Effect.fail(new RoomNotFound({ room: name })))
            )
          }),
        list: Effect.gen(function* () {
          const views: RoomView[] = []
          for (const { room } of [...rooms.values()]) {
            const view = yield* room.view.pipe(Effect.option)
            if (view._tag === "Some") views.push(view.value)
          }
          return views
        })
      })
    })
  )
}
