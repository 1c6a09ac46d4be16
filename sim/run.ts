import { Clock, Context, Duration, Effect, FiberSet, Layer, Logger, Metric, Random, Scheduler } from "effect"
import { TestClock } from "effect/testing"
import { PrismConfig, type PrismConfigShape } from "../src/config.ts"
import { Buggify, type BuggifySite, buggifyDisabled } from "../src/fault/buggify.ts"
import { Counters } from "../src/observability/media-counters.ts"
import { RoomRegistry } from "../src/room/room-registry.ts"
import type { Peer } from "../src/transport/transport.ts"
import type { BweReport } from "./bwe/bwe-report.ts"
import type { ClientServices, SimClient } from "./clients/sim-client.ts"
import { FiberCensus } from "./engine/fiber-census.ts"
import { rngStream } from "./engine/rng.ts"
import { SimScheduler } from "./engine/sim-scheduler.ts"
import { Trace } from "./engine/trace.ts"
import { traceLogger } from "./engine/trace-logger.ts"
import { World } from "./engine/world.ts"
import { SimBuggify } from "./faults/sim-buggify.ts"
import { Network } from "./network/network.ts"
import { Ledger } from "./observe/ledger.ts"
import { checkCleanup } from "./oracles/cleanup.ts"
import { checkRun } from "./oracles/index.ts"
import { checkRoomState } from "./oracles/room-state.ts"
import { checkSupervision, type KilledFiber } from "./oracles/supervision.ts"
import type { Violation } from "./oracles/violation.ts"
import { Sim } from "./scenario.ts"
import { SimNetwork, SimTransport } from "./sim-transport.ts"

export interface Scenario {
  readonly name: string
  readonly description: string
  /** Server configuration over `SIM_CONFIG`. */
  readonly config?: Partial<PrismConfigShape>
  /** Turn on the server's injected faults for this scenario regardless of the run options. */
  readonly buggify?: boolean
  /** Per-mille rates of injected faults other than the defaults (implies `buggify`). */
  readonly buggifyRates?: Partial<Record<BuggifySite, number>>
  readonly script: (sim: Sim) => Effect.Effect<void>
}

/** Shorter timeouts than production, so that runs reach clean-up in seconds of simulated time. */
export const SIM_CONFIG: Partial<PrismConfigShape> = {
  participantTimeout: Duration.seconds(10),
  emptyRoomGrace: Duration.seconds(5)
}

export interface RunOptions {
  readonly seed: number
  readonly buggify?: boolean
  /** Receives every trace line as it is written. */
  readonly sink?: (line: string) => void
}

export interface ClientSummary {
  readonly name: string
  readonly sessions: number
  readonly packets: number
  readonly retransmissions: number
  readonly frames: number
  readonly longestFreezeMs: number
  readonly nacks: number
  readonly keyframeRequests: number
}

const summarize = (client: SimClient, now: number): ClientSummary => {
  const receivers = client.sessions.flatMap((s) => [...s.receivers.values()])
  const freezes = client.sessions.flatMap((s) =>
    [...s.receivers.values()]
      .filter((r) => r.kind === "video")
      .map((r) => r.longestFreezeMs(s.endedAt ?? now))
  )
  const sum = (f: (r: (typeof receivers)[number]) => number) => receivers.reduce((n, r) => n + f(r), 0)
  return {
    name: client.name,
    sessions: client.sessions.length,
    packets: sum((r) => r.packets),
    retransmissions: sum((r) => r.retransmissionsReceived),
    frames: sum((r) => (r.kind === "video" ? r.decodedFrames : 0)),
    longestFreezeMs: Math.max(0, ...freezes),
    nacks: sum((r) => r.nacksSent),
    keyframeRequests: sum((r) => r.plisSent)
  }
}

export interface RunReport {
  readonly scenario: string
  readonly seed: number
  readonly simulatedMs: number
  readonly trace: string
  readonly traceLines: number
  readonly traceTail: ReadonlyArray<string>
  readonly violations: ReadonlyArray<Violation>
  readonly stats: Readonly<Record<string, number>>
  /** What each client got, over all its sessions and slots. */
  readonly clients: ReadonlyArray<ClientSummary>
  readonly buggify: Readonly<Record<BuggifySite, number>> | undefined
  /** What a bandwidth-adaptation scenario measured per subscriber. */
  readonly bwe: BweReport | undefined
}

/** Runs a scenario from its seed alone: same seed, same trace. */
export const runScenario = (scenario: Scenario, options: RunOptions): Promise<RunReport> => {
  const scheduler = new SimScheduler()
  const census = new FiberCensus()
  const seed = options.seed
  const buggify =
    (options.buggify ?? scenario.buggify ?? scenario.buggifyRates !== undefined)
      ? new SimBuggify(rngStream(seed, "buggify"), scenario.buggifyRates)
      : undefined
  const config: PrismConfigShape = { ...PrismConfig.defaults, ...SIM_CONFIG, ...scenario.config }

  const program = Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const world = new World(clock)
    const trace = new Trace(() => world.now, options.sink)
    const ledger = new Ledger()
    const peers = new Map<string, Peer>()
    const network = new Network(world, trace)
    network.onUnroutable = (packet) => {
      if (packet.kind === "rtp") ledger.recordUpstreamDisorder(packet.payload)
    }
    trace.record(`scenario ${scenario.name} seed ${seed}${buggify ? " buggify" : ""}`)
    const killed: KilledFiber[] = []
    if (buggify) {
      buggify.onFire = (site, subject) => {
        trace.record(`buggify ${site}${subject === undefined ? "" : ` ${subject}`}`)
        if (site.startsWith("fiber.") && subject !== undefined) {
          killed.push({ site, subject, atMs: world.now, peersBefore: ledger.peers.length })
        }
      }
    }

    const inner = Effect.gen(function* () {
      const layer = RoomRegistry.layer.pipe(
        Layer.provideMerge(Layer.mergeAll(SimTransport, Counters.layer)),
        Layer.provide(PrismConfig.layerWith(config)),
        Layer.provide(Layer.succeed(SimNetwork, { network, ledger, buggify, peers }))
      )
      const context = yield* Layer.build(layer)
      const registry = Context.get(context, RoomRegistry)
      const counters = Context.get(context, Counters)
      const runFork = yield* FiberSet.makeRuntime<never>()
      const services: ClientServices = {
        world,
        network,
        trace,
        ledger,
        registry,
        fork: (effect) => {
          runFork(effect)
        },
        rng: (name) => rngStream(seed, name)
      }
      const timeoutsMs =
        Duration.toMillis(config.participantTimeout) + Duration.toMillis(config.emptyRoomGrace)
      const sim = new Sim({
        world,
        network,
        trace,
        ledger,
        peers,
        drops: () =>
          counters.droppedPublisherQueue +
          counters.droppedSubscriberQueue +
          (buggify?.fired["slot.send-failed"] ?? 0),
        scheduler,
        registry,
        buggify,
        services,
        liveHorizonMs: Duration.toMillis(config.participantTimeout) + 15_000
      })
      yield* sim.advance(0)
      const baselineFibers = census.alive

      yield* scenario.script(sim)
      const roomState = yield* checkRoomState(registry, ledger)

      trace.record("teardown")
      const teardown = rngStream(seed, "teardown")
      for (const client of sim.clients) {
        if (client.state === "connected" && teardown.chance(0.5)) yield* sim.leave(client.name)
        else yield* sim.crash(client.name)
      }
      yield* sim.advance(Duration.millis(timeoutsMs + 5_000))

      const violations = [
        ...sim.failures,
        ...roomState,
        ...checkRun({ ledger, clients: sim.clients, config, counters, buggify: buggify?.fired }),
        ...checkSupervision(killed, ledger),
        ...(yield* checkCleanup({ registry, ledger, census, baselineFibers }))
      ]
      for (const violation of violations) trace.record(`violation ${violation.oracle} ${violation.message}`)
      const stats: Record<string, number> = {
        clients: sim.clients.length,
        sessions: sim.clients.reduce((n, c) => n + c.sessions.length, 0),
        packetsIn: counters.packetsIn,
        packetsOut: counters.packetsOut,
        retransmissions: counters.retransmissions,
        nacksToPublishers: counters.nacksToPublishers,
        keyframeRequestsToPublishers: counters.keyframeRequestsToPublishers,
        ownMediaEchoes: sim.clients.reduce((n, c) => n + c.ownMediaReceived, 0),
        fibersStarted: census.started
      }
      return {
        scenario: scenario.name,
        seed,
        simulatedMs: world.now,
        trace: trace.digest(),
        traceLines: trace.lines,
        traceTail: trace.tail,
        violations,
        stats,
        clients: sim.clients.map((c) => summarize(c, world.now)),
        buggify: buggify?.fired,
        bwe: sim.bwe
      } satisfies RunReport
    })
    return yield* inner.pipe(Effect.provide(Logger.layer([traceLogger(trace)])))
  }).pipe(
    Effect.scoped,
    Effect.provide(TestClock.layer({ warningDelay: "1 hour" })),
    Effect.provideService(Buggify, buggify ?? buggifyDisabled),
    Random.withSeed(seed),
    Effect.provideService(Metric.MetricRegistry, new Map()),
    Effect.provideService(Metric.FiberRuntimeMetrics, census),
    Effect.provideService(Scheduler.Scheduler, scheduler)
  )
  return Effect.runPromise(program)
}
