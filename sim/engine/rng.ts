import { Effect, Random } from "effect"

/** A synchronous pseudo-random stream for code that runs inside simulated events. */
export interface Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number
  /** Uniform integer in [min, max]. */
  readonly int: (min: number, max: number) => number
  readonly chance: (probability: number) => boolean
}

/**
 * An independent stream per name, derived from the scenario seed through Effect's seeded
 * `Random`, so adding a client or a link does not shift the numbers any other one draws.
 */
export const rngStream = (seed: string | number, name: string): Rng => {
  const random = Effect.runSync(
    Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(Random.Random))).pipe(
      Random.withSeed(`${seed}/${name}`)
    )
  )
  const next = () => random.nextDoubleUnsafe()
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (probability) => probability > 0 && next() < probability
  }
}
