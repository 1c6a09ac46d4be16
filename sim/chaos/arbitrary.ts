import fc from "fast-check"
import type { ChaosClient, ChaosFault, ChaosSpec } from "./spec.ts"

const client = (rooms: number): fc.Arbitrary<ChaosClient> =>
  fc.record({
    room: fc.integer({ min: 0, max: rooms - 1 }),
    role: fc.constantFrom("participant", "participant", "participant", "whip", "whep"),
    audio: fc.boolean(),
    video: fc.constantFrom("none", "plain", "plain", "simulcast"),
    receives: fc.record({ audio: fc.integer({ min: 0, max: 3 }), video: fc.integer({ min: 0, max: 3 }) }),
    profile: fc.constantFrom("fiber", "fiber", "wifi", "cellular"),
    joinAt: fc.integer({ min: 0, max: 3000 }),
    keyframeIntervalMs: fc.constantFrom(0, 2000, 4000)
  })

const fault = (clients: number, rooms: number, chaosMs: number): fc.Arbitrary<ChaosFault> => {
  const who = fc.integer({ min: 0, max: clients - 1 })
  const at = fc.integer({ min: 500, max: chaosMs - 500 })
  const duration = fc.integer({ min: 200, max: 15_000 })
  const comeback = fc.option(fc.integer({ min: 100, max: 8000 }), { nil: null })
  return fc.oneof(
    fc.record({ kind: fc.constant("partition" as const), client: who, at, duration }),
    fc.record({ kind: fc.constant("crash" as const), client: who, at, restartAfter: comeback }),
    fc.record({ kind: fc.constant("leave" as const), client: who, at, rejoinAfter: comeback }),
    fc.record({ kind: fc.constant("close" as const), client: who, at, rejoinAfter: comeback }),
    fc.record({ kind: fc.constant("rejoin" as const), client: who, at }),
    fc.record({ kind: fc.constant("ice-restart" as const), client: who, at }),
    fc.record({
      kind: fc.constant("loss" as const),
      client: who,
      at,
      duration,
      loss: fc.constantFrom(0.05, 0.1, 0.3),
      bursty: fc.boolean()
    }),
    fc.record({ kind: fc.constant("reorder" as const), client: who, at, duration }),
    fc.record({ kind: fc.constant("slow" as const), client: who, at, duration }),
    fc.record({ kind: fc.constant("stuck" as const), client: who, at, duration }),
    fc.record({ kind: fc.constant("pause-layer" as const), client: who, at, duration }),
    fc.record({
      kind: fc.constant("churn" as const),
      room: fc.integer({ min: 0, max: rooms - 1 }),
      at,
      count: fc.integer({ min: 1, max: 6 }),
      lifetime: fc.integer({ min: 0, max: 3000 })
    })
  )
}

/** Rooms, clients, publish mixes, link profiles and a fault schedule. */
export const chaosSpec: fc.Arbitrary<ChaosSpec> = fc
  .record({ rooms: fc.integer({ min: 1, max: 3 }), chaosMs: fc.integer({ min: 4000, max: 12_000 }) })
  .chain(({ rooms, chaosMs }) =>
    fc.array(client(rooms), { minLength: 2, maxLength: 5 }).chain((clients) =>
      fc.record({
        rooms: fc.constant(rooms),
        clients: fc.constant(clients),
        faults: fc.array(fault(clients.length, rooms, chaosMs), { maxLength: 6 }),
        chaosMs: fc.constant(chaosMs),
        isolation: fc.option(
          fc.record({
            victim: fc.integer({ min: 0, max: clients.length - 1 }),
            kind: fc.constantFrom("stuck" as const, "slow" as const)
          }),
          { nil: null, freq: 3 }
        ),
        buggify: fc.boolean()
      })
    )
  )

/** The scenario a seed stands for: `SIM_SEED=<n>` replays exactly this one. */
export const specForSeed = (seed: number): ChaosSpec => fc.sample(chaosSpec, { seed, numRuns: 1 })[0]!
