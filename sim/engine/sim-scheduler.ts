import { Effect, type Fiber, Scheduler } from "effect"

/** Every this many hops the scheduler lets Node's event loop turn, so the test runner stays responsive. */
const HOPS_PER_MACROTASK = 4096

/**
 * The scheduler every fiber of a simulation runs on. Hops are microtasks (fast), and every
 * task is counted, so the driver can wait until every fiber is suspended (`whenIdle`) before
 * it moves the clock: a step's consequences finish at the simulated instant they belong to.
 * The order of tasks depends only on what the fibers do, never on wall-clock time.
 */
export class SimScheduler implements Scheduler.Scheduler {
  readonly executionMode = "async" as const
  private readonly base: Scheduler.MixedScheduler
  private pending = 0
  private hops = 0
  private waiters: Array<() => void> = []

  constructor() {
    this.base = new Scheduler.MixedScheduler("async", (task) => this.defer(task))
  }

  shouldYield(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    return this.base.shouldYield(fiber)
  }

  makeDispatcher(): Scheduler.SchedulerDispatcher {
    const dispatcher = this.base.makeDispatcher()
    return {
      scheduleTask: (task, priority) => {
        this.pending++
        dispatcher.scheduleTask(() => {
          try {
            task()
          } finally {
            if (--this.pending === 0) this.notifyIdle()
          }
        }, priority)
      },
      flush: () => dispatcher.flush()
    }
  }

  /** Completes once no fiber of the simulation has work scheduled. */
  readonly whenIdle: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (this.pending === 0) resume(Effect.void)
    else this.waiters.push(() => resume(Effect.void))
  })

  private notifyIdle(): void {
    const waiters = this.waiters
    if (waiters.length === 0) return
    this.waiters = []
    for (const wake of waiters) wake()
  }

  private defer(task: () => void): () => void {
    let cancelled = false
    const run = () => {
      if (!cancelled) task()
    }
    if (++this.hops % HOPS_PER_MACROTASK === 0) setImmediate(run)
    else queueMicrotask(run)
    return () => {
      cancelled = true
    }
  }
}
