import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import type { ParticipantRole } from "../src/participant/participant.ts"
import type { RoomRegistry } from "../src/room/room-registry.ts"
import type { Peer } from "../src/transport/transport.ts"
import type { BweReport } from "./bwe/bwe-report.ts"
import type { TrackSpec } from "./clients/media-spec.ts"
import { type ClientServices, type ClientSpec, SimClient } from "./clients/sim-client.ts"
import type { SimScheduler } from "./engine/sim-scheduler.ts"
import type { Trace } from "./engine/trace.ts"
import type { World } from "./engine/world.ts"
import type { SimBuggify } from "./faults/sim-buggify.ts"
import type { CapacityChange } from "./network/capacity-schedule.ts"
import type { LinkSettings } from "./network/link.ts"
import type { Network } from "./network/network.ts"
import { type ProfileName, profiles } from "./network/profiles.ts"
import type { Ledger } from "./observe/ledger.ts"
import {
  type DropCount,
  type IsolationWindow,
  measureIsolation,
  startIsolationWindow
} from "./oracles/fault-isolation.ts"
import { checkLiveness } from "./oracles/liveness.ts"
import type { Violation } from "./oracles/violation.ts"

export { audio, simulcastVideo, video } from "./clients/media-spec.ts"

/** One option of `sim.join`: publishes(...), receives(...), on(...), inRoom(...), as(...). */
export type JoinOption = (spec: ClientSpec) => ClientSpec

export const publishes =
  (...tracks: TrackSpec[]): JoinOption =>
  (spec) => ({ ...spec, publishes: tracks })

export const receives =
  (slots: { readonly audio?: number; readonly video?: number }): JoinOption =>
  (spec) => ({ ...spec, receives: { audio: slots.audio ?? 0, video: slots.video ?? 0 } })

export const on =
  (link: ProfileName | LinkSettings): JoinOption =>
  (spec) => ({ ...spec, link: typeof link === "string" ? profiles[link] : link })

export const inRoom =
  (room: string): JoinOption =>
  (spec) => ({ ...spec, room })

export const as =
  (role: ParticipantRole): JoinOption =>
  (spec) => ({ ...spec, role })

export const acceptsVideo =
  (...codecs: ClientSpec["videoCodecs"]): JoinOption =>
  (spec) => ({ ...spec, videoCodecs: codecs })

export const manualReconnect: JoinOption = (spec) => ({ ...spec, autoReconnect: false })

/** The congestion feedback the client sends about its downlink (default none). */
export const sendsFeedback =
  (mode: ClientSpec["feedback"] = "transport-cc"): JoinOption =>
  (spec) => ({ ...spec, feedback: mode })

export interface SimEnvironment {
  readonly world: World
  readonly network: Network
  readonly trace: Trace
  readonly ledger: Ledger
  /** The server's latest peer connection for each client, by name. */
  readonly peers: ReadonlyMap<string, Peer>
  /** Packets the server dropped in its queues (counted) or failed to send (injected), so far. */
  readonly drops: DropCount
  readonly scheduler: SimScheduler
  readonly registry: (typeof RoomRegistry)["Service"]
  /** The injected server faults, when the run has them. */
  readonly buggify: SimBuggify | undefined
  readonly services: ClientServices
  readonly liveHorizonMs: number
}

export interface DirectionControl {
  readonly set: (changes: Partial<LinkSettings>) => Effect.Effect<void>
  /** Changes the bottleneck rate over the coming time (steps and ramps, counted from now). */
  readonly capacity: (...changes: CapacityChange[]) => Effect.Effect<void>
}

export interface LinkControl {
  /** Changes both directions. */
  readonly set: (changes: Partial<LinkSettings>) => Effect.Effect<void>
  readonly up: DirectionControl
  readonly down: DirectionControl
  /** Resets both directions to a profile. */
  readonly profile: (name: ProfileName) => Effect.Effect<void>
}

/**
 * The scenario language. Every step happens at the current simulated instant and returns
 * once everything it set off inside the server has settled; only `advance` moves time.
 */
export class Sim {
  readonly clients: SimClient[] = []
  readonly failures: Violation[] = []
  /** What a bandwidth-adaptation scenario measured (see sim/bwe/). */
  bwe: BweReport | undefined
  private readonly byName = new Map<string, SimClient>()

  constructor(readonly env: SimEnvironment) {}

  get now(): number {
    return this.env.world.now
  }

  client(name: string): SimClient {
    const client = this.byName.get(name)
    if (!client) throw new Error(`no simulated client named ${name}`)
    return client
  }

  has(name: string): boolean {
    return this.byName.has(name)
  }

  /** Adds a client (first time) and joins it; by default it publishes nothing and receives 3 + 3 slots. */
  join(name: string, ...options: JoinOption[]): Effect.Effect<void> {
    return this.step(`join ${name}`, () => {
      let client = this.byName.get(name)
      if (!client) {
        const base: ClientSpec = {
          name,
          room: "main",
          role: "participant",
          publishes: [],
          receives: { audio: 3, video: 3 },
          videoCodecs: ["VP8"],
          link: profiles.fiber,
          autoReconnect: true,
          feedback: "none"
        }
        client = new SimClient(
          options.reduce((spec, option) => option(spec), base),
          this.clients.length,
          this.env.services
        )
        this.clients.push(client)
        this.byName.set(name, client)
        return client.join()
      }
      return client.restart()
    })
  }

  leave(name: string): Effect.Effect<void> {
    return this.step(`leave ${name}`, () => this.client(name).leave())
  }

  close(name: string): Effect.Effect<void> {
    return this.step(`close ${name}`, () => Effect.sync(() => this.client(name).close()))
  }

  crash(name: string): Effect.Effect<void> {
    return this.step(`crash ${name}`, () => Effect.sync(() => this.client(name).crash()))
  }

  restart(name: string): Effect.Effect<void> {
    return this.step(`restart ${name}`, () => this.client(name).restart())
  }

  iceRestart(name: string): Effect.Effect<void> {
    return this.step(`ice-restart ${name}`, () => this.client(name).iceRestart())
  }

  /** Abandons the session and joins anew while the server still holds the old one. */
  rejoin(name: string): Effect.Effect<void> {
    return this.step(`rejoin ${name}`, () => this.client(name).rejoin())
  }

  partition(name: string): Effect.Effect<void> {
    return this.step(`partition ${name}`, () =>
      Effect.sync(() => {
        this.client(name).up.partition()
        this.client(name).down.partition()
      })
    )
  }

  heal(name: string): Effect.Effect<void> {
    return this.step(`heal ${name}`, () =>
      Effect.sync(() => {
        this.client(name).up.heal()
        this.client(name).down.heal()
      })
    )
  }

  stall(name: string): Effect.Effect<void> {
    return this.step(`stall ${name}`, () => Effect.sync(() => this.client(name).setStuck(true)))
  }

  unstall(name: string): Effect.Effect<void> {
    return this.step(`unstall ${name}`, () => Effect.sync(() => this.client(name).setStuck(false)))
  }

  pauseLayer(name: string, rid: string): Effect.Effect<void> {
    return this.step(`pause ${name} ${rid}`, () =>
      Effect.sync(() => this.client(name).setLayerPaused(rid, true))
    )
  }

  resumeLayer(name: string, rid: string): Effect.Effect<void> {
    return this.step(`resume ${name} ${rid}`, () =>
      Effect.sync(() => this.client(name).setLayerPaused(rid, false))
    )
  }

  link(name: string): LinkControl {
    const client = this.client(name)
    const set = (which: "up" | "down" | "both", changes: Partial<LinkSettings>) =>
      this.step(`link ${name}`, () =>
        Effect.sync(() => {
          if (which !== "down") client.up.set(changes)
          if (which !== "up") client.down.set(changes)
        })
      )
    const capacity = (which: "up" | "down", changes: CapacityChange[]) =>
      this.step(`capacity ${name}.${which}`, () => Effect.sync(() => client[which].schedule(changes)))
    return {
      set: (changes) => set("both", changes),
      up: { set: (changes) => set("up", changes), capacity: (...changes) => capacity("up", changes) },
      down: { set: (changes) => set("down", changes), capacity: (...changes) => capacity("down", changes) },
      profile: (profile) => set("both", profiles[profile])
    }
  }

  /** No more fibers are killed from here on (other injected faults go on): the server may recover. */
  quiet(): Effect.Effect<void> {
    return this.step("quiet", () => Effect.sync(() => this.env.buggify?.quiet()))
  }

  /** Moves simulated time forward, running the network and the server in step. */
  advance(duration: Duration.Input): Effect.Effect<void> {
    const { world, network, scheduler } = this.env
    return Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(
        world.loop(() => network.horizon()),
        { startImmediately: true }
      )
      yield* scheduler.whenIdle
      yield* TestClock.adjust(duration)
      yield* Fiber.interrupt(fiber)
      yield* scheduler.whenIdle
    })
  }

  /** Records a failure unless `check` returns true (a string explains the failure). */
  expect(label: string, check: () => boolean | string): Effect.Effect<void> {
    return Effect.sync(() => {
      const result = check()
      if (result === true) return
      this.fail("expect", `${label}${typeof result === "string" ? `: ${result}` : ""}`)
    })
  }

  /** `subscriber` decoded `publisher`'s `kind` within the last two seconds. */
  expectReceiving(subscriber: string, publisher: string, kind: "audio" | "video"): Effect.Effect<void> {
    return this.expect(`${subscriber} receives ${publisher}'s ${kind}`, () => {
      const session = this.client(publisher).current
      const receiving = this.client(subscriber).current
      if (!session || !receiving) return "not connected"
      const track = session.publishers.find((p) => p.spec.kind === kind)
      if (!track) return `${publisher} publishes no ${kind}`
      const key = `${this.client(publisher).index}.${session.generation}/${track.track}`
      for (const receiver of receiving.receivers.values()) {
        const at = receiver.lastDecodedFrom.get(key)
        if (at !== undefined && this.now - at <= 2000) return true
      }
      return "nothing decoded in the last 2 s"
    })
  }

  /** The negation: `subscriber` got nothing from `publisher` at all. */
  expectNothingFrom(subscriber: string, publisher: string): Effect.Effect<void> {
    return this.expect(`${subscriber} receives nothing from ${publisher}`, () => {
      const origin = this.client(publisher).index
      for (const session of this.client(subscriber).sessions) {
        for (const receiver of session.receivers.values()) {
          for (const key of receiver.lastDecodedFrom.keys()) if (key.startsWith(`${origin}.`)) return false
        }
      }
      return true
    })
  }

  /**
   * Liveness: advances until every connected client receives every publication in its
   * room it has a free slot for (or fills every slot), failing after `within`.
   */
  expectLiveness(within: Duration.Input = Duration.millis(this.env.liveHorizonMs)): Effect.Effect<void> {
    const self = this
    return Effect.gen(function* () {
      const deadline = self.now + Duration.toMillis(Duration.fromInputUnsafe(within))
      let problems: string[] = []
      while (self.now < deadline) {
        yield* self.advance("500 millis")
        problems = checkLiveness(self.clients, self.now)
        if (problems.length === 0) return
      }
      self.fail(
        "liveness",
        `not live ${Duration.format(Duration.fromInputUnsafe(within))} after healing: ${problems.slice(0, 6).join("; ")}`
      )
    })
  }

  /**
   * Fault isolation: while `run` goes on, the slots of every connected client except
   * `victims` must get from the server every packet of what they carry.
   */
  expectUnaffected(victims: ReadonlyArray<string>, run: Effect.Effect<void>): Effect.Effect<void> {
    const self = this
    return Effect.gen(function* () {
      const window: IsolationWindow = startIsolationWindow(self.env.drops, self.now)
      yield* run
      for (const problem of measureIsolation(
        window,
        self.env.ledger,
        self.env.drops,
        self.clients,
        victims,
        self.now
      )) {
        self.fail("fault-isolation", problem)
      }
    })
  }

  fail(oracle: string, message: string): void {
    this.env.trace.record(`FAIL ${oracle} ${message}`)
    this.failures.push({ oracle, message: `t=${this.now}ms ${message}` })
  }

  private step(label: string, action: () => Effect.Effect<void>): Effect.Effect<void> {
    const { trace, scheduler } = this.env
    return Effect.suspend(() => {
      trace.record(`step ${label}`)
      return action()
    }).pipe(Effect.andThen(scheduler.whenIdle))
  }
}
