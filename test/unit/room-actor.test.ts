import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Fiber, Layer, Metric } from "effect"
import { TestClock } from "effect/testing"
import { PrismConfig } from "../../src/config.ts"
import { Counters } from "../../src/observability/media-counters.ts"
import { RoomRegistry } from "../../src/room/room-registry.ts"
import { type Peer, type PeerHandlers, Transport } from "../../src/transport/transport.ts"

/**
 * The room actor never waits on a peer connection nor on anything that needs its own mailbox:
 * closing and renegotiating run on the participants' fibers, reads come from the room's
 * snapshot, and requests queue per source with a deadline. The transport here takes a
 * simulated second to close a peer connection and to renegotiate; everything the room answers
 * must be answered without the clock moving.
 */

const vp8 = { name: "VP8" as const, payloadType: 96, clockRate: 90000, rtxPayloadType: undefined }
const SLOW = Duration.seconds(1)

interface FakeTransport {
  readonly closed: string[]
  readonly handlers: Map<string, PeerHandlers>
  /** Off once the test body is over, so that the registry's own teardown needs no clock. */
  slow: boolean
}

class Fake extends Context.Service<Fake, FakeTransport>()("test/FakeTransport") {}

const slowTransport = Layer.effect(
  Transport,
  Effect.gen(function* () {
    const fake = yield* Fake
    return Transport.of({
      connect: (request) =>
        Effect.acquireRelease(
          Effect.sync((): Peer => {
            const participantId = request.participantId
            return {
              answer: `answer-${participantId}`,
              publications: [{ mid: "0", kind: "video", codecs: [vp8], rids: [] }],
              slots: [{ mid: "1", kind: "video", codecs: [vp8], ssrc: 4242 }],
              attach: (handlers) => {
                fake.handlers.set(participantId, handlers)
                handlers.onStateChange("connected")
              },
              sendRtp: () => true,
              retransmit: () => true,
              requestKeyframe: () => undefined,
              sendNack: () => undefined,
              sendPadding: () => 0,
              sendData: () => false,
              silenceMs: () => 0,
              renegotiate: () => Effect.sleep(SLOW).pipe(Effect.as("renegotiated"))
            }
          }),
          () =>
            (fake.slow ? Effect.sleep(SLOW) : Effect.void).pipe(
              Effect.andThen(Effect.sync(() => fake.closed.push(request.participantId)))
            )
        )
    })
  })
)

const registryLayer = () => {
  const fake: FakeTransport = { closed: [], handlers: new Map(), slow: true }
  return {
    fake,
    layer: RoomRegistry.layer.pipe(
      Layer.provideMerge(Layer.mergeAll(slowTransport, Counters.layer)),
      Layer.provide(Layer.succeed(Fake, fake)),
      Layer.provide(PrismConfig.layerWith({}))
    )
  }
}

const OFFER = "v=0\r\n"

/** Runs `body` with a fresh registry over the slow transport, in TestClock time. */
const withRegistry = <A, E>(
  body: (registry: (typeof RoomRegistry)["Service"], fake: FakeTransport) => Effect.Effect<A, E>
) => {
  const { fake, layer } = registryLayer()
  return Effect.gen(function* () {
    const registry = yield* RoomRegistry
    // Closes still under way finish before the registry's own teardown.
    return yield* body(registry, fake).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          fake.slow = false
        }).pipe(Effect.andThen(TestClock.adjust(SLOW)))
      )
    )
  }).pipe(Effect.provide(layer), Effect.provideService(Metric.MetricRegistry, new Map()))
}

/** Forks `effect` and lets every fiber run as far as it can without the clock moving. */
const settled = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect, { startImmediately: true })
    yield* TestClock.adjust(0)
    for (let i = 0; i < 20; i++) yield* Effect.yieldNow
    return fiber
  })

const done = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.sync(() => fiber.pollUnsafe()).pipe(Effect.map((exit) => exit !== undefined))

describe("room actor", () => {
  it.effect(
    "a leave whose peer connection takes long to close stalls nobody: reads, joins and leaves answer at once",
    () =>
      withRegistry((registry, fake) =>
        Effect.gen(function* () {
          const alice = yield* registry.join("r", "participant", OFFER)
          const bob = yield* registry.join("r", "participant", OFFER)
          const carol = yield* registry.join("r", "participant", OFFER)

          const work = yield* settled(
            Effect.all(
              [
                registry.leave("r", alice.participantId),
                Effect.all(
                  Array.from({ length: 400 }, () => registry.view("r")),
                  { concurrency: "unbounded" }
                ),
                registry.join("r", "participant", OFFER),
                registry.leave("r", bob.participantId)
              ],
              { concurrency: "unbounded" }
            )
          )
          assert.isTrue(yield* done(work), "everything was answered before any peer connection closed")
          const [, views, dave] = yield* Fiber.join(work)
          assert.strictEqual(views.length, 400)
          assert.deepStrictEqual(fake.closed, [])
          const now = yield* registry.view("r")
          assert.sameMembers(
            now.participants.map((p) => p.id),
            [carol.participantId, dave.participantId]
          )
          // The closes finish on the participants' own fibers.
          yield* TestClock.adjust(SLOW)
          assert.sameMembers(fake.closed, [alice.participantId, bob.participantId])
          // A left participant is gone: a second DELETE is a 404.
          const again = yield* registry.leave("r", alice.participantId).pipe(Effect.exit)
          assert.isTrue(Exit.isFailure(again))
        })
      )
  )

  it.effect("an ICE restart runs outside the room: the room answers others while it negotiates", () =>
    withRegistry((registry) =>
      Effect.gen(function* () {
        const alice = yield* registry.join("r", "participant", OFFER)
        const bob = yield* registry.join("r", "participant", OFFER)
        const restart = yield* settled(registry.renegotiate("r", alice.participantId, OFFER, alice.etag))
        assert.isFalse(yield* done(restart), "the renegotiation takes its simulated second")
        const others = yield* settled(
          Effect.all(
            [registry.view("r"), registry.leave("r", bob.participantId), registry.join("r", "whep", OFFER)],
            {
              concurrency: "unbounded"
            }
          )
        )
        assert.isTrue(yield* done(others))
        // A second restart with the same (now stale) ETag waits its turn, then gets 412.
        const stale = yield* settled(
          registry.renegotiate("r", alice.participantId, OFFER, alice.etag).pipe(Effect.exit)
        )
        yield* TestClock.adjust(SLOW)
        const restarted = yield* Fiber.join(restart)
        assert.strictEqual(restarted.answer, "renegotiated")
        assert.notStrictEqual(restarted.etag, alice.etag)
        yield* TestClock.adjust(SLOW)
        const refused = yield* Fiber.join(stale)
        assert.isTrue(Exit.isFailure(refused) && JSON.stringify(refused.cause).includes("EtagMismatch"))
      })
    )
  )

  it.effect("a burst of joins beyond the queue is answered room_busy; a leave is not held up by it", () =>
    withRegistry((registry) =>
      Effect.gen(function* () {
        const alice = yield* registry.join("r", "participant", OFFER)
        const burst = Effect.all(
          Array.from({ length: 100 }, () => registry.join("r", "participant", OFFER).pipe(Effect.exit)),
          { concurrency: "unbounded" }
        )
        const [joins, left] = yield* Effect.all(
          [burst, registry.leave("r", alice.participantId).pipe(Effect.exit)],
          {
            concurrency: "unbounded"
          }
        )
        const busy = joins.filter((e) => Exit.isFailure(e) && JSON.stringify(e.cause).includes("RoomBusy"))
        const joined = joins.filter(Exit.isSuccess)
        assert.isAbove(busy.length, 0, "some joins were over the quota")
        assert.isAbove(joined.length, 0)
        assert.strictEqual(busy.length + joined.length, 100)
        assert.isTrue(Exit.isSuccess(left))
      })
    )
  )

  it.effect("a participant whose transport failed leaves the room and its resource is gone", () =>
    withRegistry((registry, fake) =>
      Effect.gen(function* () {
        const alice = yield* registry.join("r", "participant", OFFER)
        yield* registry.join("r", "participant", OFFER)
        fake.handlers.get(alice.participantId)!.onStateChange("failed")
        yield* settled(Effect.void)
        const view = yield* registry.view("r")
        assert.notInclude(
          view.participants.map((p) => p.id),
          alice.participantId
        )
        const gone = yield* registry.leave("r", alice.participantId).pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(gone) && JSON.stringify(gone.cause).includes("ParticipantNotFound"))
      })
    )
  )
})
