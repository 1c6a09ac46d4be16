import { Cause, Context, Effect, type Fiber, Metric, Schedule, type Scope } from "effect"
import { componentFailures } from "../observability/metrics.ts"
import { Buggify, type BuggifySite } from "./buggify.ts"

/**
 * The long-lived fibers of a participant and of a room. Each is forked with
 * `forkSupervised`: when one fails or dies (anything but an interruption), its owner hears
 * of it and ends cleanly (the participant leaves its room, the room closes) instead of living
 * on as a zombie with a dead part; the cause is logged at Error and counted by component.
 */
export type Component =
  | "track-inbox"
  | "track-nack-poll"
  | "slot-forwarder"
  | "downlink-tick"
  | "layer-allocation"
  | "watchdog"
  | "transport-timer"
  | "room"

export const components: ReadonlyArray<Component> = [
  "track-inbox",
  "track-nack-poll",
  "slot-forwarder",
  "downlink-tick",
  "layer-allocation",
  "watchdog",
  "transport-timer",
  "room"
]

/** The buggify site that makes a component's fiber die, so the simulation can check the recovery. */
export const failureSite = (component: Component): BuggifySite => `fiber.${component}`

export interface Supervisor {
  /** Whose fibers these are (a participant id, or a room name), for logs and injected faults. */
  readonly subject: string
  /** Called once a supervised fiber failed; ends the owner. Never fails. */
  readonly failed: (component: Component, cause: Cause.Cause<unknown>) => Effect.Effect<void>
}

/** Without an owner (a part made on its own, in a test) a failure is only logged and counted. */
const unowned: Supervisor = { subject: "", failed: () => Effect.void }

export const Supervisor = Context.Reference<Supervisor>("prism/Supervisor", { defaultValue: () => unowned })

/** A fault the simulation injected on purpose (buggify), to tell it from a real defect in logs. */
export class InjectedFailure extends Error {
  constructor(readonly component: Component) {
    super(`injected failure of ${component}`)
    this.name = "InjectedFailure"
  }
}

const INJECTION_CHECK = "1 second"

/** With buggify on, a fiber that dies when its site fires (checked once a simulated second). */
const injectedFailure = (buggify: Buggify, component: Component, subject: string): Effect.Effect<never> =>
  Effect.suspend(() =>
    buggify.fires(failureSite(component), subject) ? Effect.die(new InjectedFailure(component)) : Effect.void
  ).pipe(Effect.repeat(Schedule.spaced(INJECTION_CHECK)), Effect.andThen(Effect.never))

/**
 * Forks `effect` into the current scope as a part of the current `Supervisor`'s owner: its
 * failure is logged at Error (with the caller's log annotations: room, participant), counted
 * in `prism_component_failures_total{component}` and reported to the owner.
 */
export const forkSupervised = <A, E, R>(
  component: Component,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<Fiber.Fiber<A | undefined, E>, never, R | Scope.Scope> =>
  Effect.gen(function* () {
    const supervisor = yield* Supervisor
    const buggify = yield* Buggify
    const body = buggify.enabled
      ? Effect.raceFirst(effect, injectedFailure(buggify, component, supervisor.subject))
      : effect
    return yield* body.pipe(
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.failCause(cause)
          : Effect.logError(`${component} failed`, cause).pipe(
              Effect.annotateLogs({ component }),
              Effect.andThen(Metric.update(Metric.withAttributes(componentFailures, { component }), 1)),
              Effect.andThen(supervisor.failed(component, cause)),
              Effect.as(undefined)
            )
      ),
      Effect.forkScoped
    )
  })
