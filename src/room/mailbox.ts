import { Deferred, Effect, Option, Queue } from "effect"
import { RoomBusy, RoomClosed } from "./errors.ts"

/** How long a request may wait for the room to take it; then it is answered 503 `room_busy`. */
const REQUEST_DEADLINE = "5 seconds"
export const RETRY_AFTER_SECONDS = 1

interface Request {
  readonly source: string
  /** The room started on it: the asker waits for the answer, however long it takes. */
  taken: boolean
  /** The asker gave up before the room took it: the room skips it. */
  abandoned: boolean
}

interface Envelope<C> {
  readonly command: C
  readonly request: Request | undefined
}

/**
 * A room's mailbox. The room's own events (a participant negotiated, connected or ended, the
 * tick, control messages that each client's session already limits) are posted and always get
 * in, so nothing the room or a participant's teardown waits on can be shut out by a full
 * mailbox. Requests from outside (joins: leaves, restarts and reads do not go through the room)
 * are admitted per source within a quota; a request over its source's quota, or one the room
 * has not taken within the deadline, fails with `RoomBusy` (503 and Retry-After) instead of
 * waiting forever.
 */
export class Mailbox<C> {
  private readonly waiting = new Map<string, number>()

  private constructor(
    private readonly room: string,
    private readonly queue: Queue.Queue<Envelope<C>>,
    private readonly closed: Deferred.Deferred<never, RoomClosed>
  ) {}

  static readonly make = <C>(room: string) =>
    Effect.gen(function* () {
      const queue = yield* Queue.unbounded<Envelope<C>>()
      const closed = yield* Deferred.make<never, RoomClosed>()
      yield* Effect.addFinalizer(() =>
        Queue.shutdown(queue).pipe(Effect.andThen(Deferred.fail(closed, new RoomClosed({ room }))))
      )
      return new Mailbox<C>(room, queue, closed)
    })

  /** An event of the room's own; never blocks (dropped only once the room has closed). */
  post(command: C): void {
    Queue.offerUnsafe(this.queue, { command, request: undefined })
  }

  /** The next command to handle, skipping requests their askers gave up on. */
  readonly take: Effect.Effect<C> = Effect.suspend(() => this.takeNext())

  private takeNext(): Effect.Effect<C> {
    return Queue.take(this.queue).pipe(
      Effect.flatMap((envelope) => {
        const request = envelope.request
        if (!request) return Effect.succeed(envelope.command)
        this.release(request.source)
        if (request.abandoned) return this.takeNext()
        request.taken = true
        return Effect.succeed(envelope.command)
      })
    )
  }

  /**
   * Sends a request made with its reply and waits for the answer. At most `quota` requests of
   * `source` wait at a time; one the room has not taken within the deadline is withdrawn.
   */
  ask<A, E>(
    source: string,
    quota: number,
    make: (reply: Deferred.Deferred<A, E>) => C
  ): Effect.Effect<A, E | RoomBusy | RoomClosed> {
    const self = this
    const busy = new RoomBusy({ room: this.room, retryAfterSeconds: RETRY_AFTER_SECONDS })
    return Effect.gen(function* () {
      if ((self.waiting.get(source) ?? 0) >= quota) return yield* busy
      const reply = yield* Deferred.make<A, E>()
      const request: Request = { source, taken: false, abandoned: false }
      if (!Queue.offerUnsafe(self.queue, { command: make(reply), request })) {
        return yield* new RoomClosed({ room: self.room })
      }
      self.waiting.set(source, (self.waiting.get(source) ?? 0) + 1)
      const withdraw = Effect.sync(() => {
        if (!request.taken) request.abandoned = true
      })
      const answer = Effect.raceFirst(Deferred.await(reply), Deferred.await(self.closed))
      const early = yield* answer.pipe(
        Effect.timeoutOption(REQUEST_DEADLINE),
        Effect.onInterrupt(() => withdraw)
      )
      if (Option.isSome(early)) return early.value
      if (!request.taken) {
        request.abandoned = true
        return yield* busy
      }
      return yield* answer
    })
  }

  private release(source: string): void {
    const count = (this.waiting.get(source) ?? 1) - 1
    if (count > 0) this.waiting.set(source, count)
    else this.waiting.delete(source)
  }
}
