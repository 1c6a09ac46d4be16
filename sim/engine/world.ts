import { type Clock, Duration, Effect } from "effect"
import { EventHeap } from "./event-heap.ts"

/**
 * The discrete-event core: packets in flight and client timers are events on one heap,
 * run by one fiber that sleeps on the TestClock until the next event. The TestClock wakes
 * it in time order with the SFU's own sleepers, and waits for every fiber it woke to
 * suspend before the next wake, so network and server interleave as in real time.
 */
export class World {
  private readonly heap = new EventHeap()
  private seq = 0

  constructor(private readonly clock: Clock.Clock) {}

  get now(): number {
    return this.clock.currentTimeMillisUnsafe()
  }

  /** Runs `run` at `time` (whole milliseconds, never in the past). */
  at(time: number, run: () => void): void {
    this.heap.push({ time: Math.max(Math.ceil(time), this.now), seq: this.seq++, run })
  }

  after(delayMs: number, run: () => void): void {
    this.at(this.now + delayMs, run)
  }

  /** Runs every event due by now, in order (the loop does this on each wake). */
  runDue(): void {
    const now = this.now
    for (let next = this.heap.peek(); next !== undefined && next.time <= now; next = this.heap.peek()) {
      this.heap.pop()!.run()
    }
  }

  /**
   * Runs events forever. `horizon()` is the shortest delay any link can add: nothing the
   * server does while this fiber sleeps can schedule an event sooner than that, so the
   * fiber never sleeps past it.
   */
  loop(horizon: () => number): Effect.Effect<never> {
    const world = this
    return Effect.gen(function* () {
      for (;;) {
        world.runDue()
        const now = world.now
        const next = world.heap.peek()?.time ?? Number.POSITIVE_INFINITY
        const target = Math.min(next, now + Math.max(1, horizon()))
        yield* Effect.sleep(Duration.millis(target - now))
      }
    })
  }
}
