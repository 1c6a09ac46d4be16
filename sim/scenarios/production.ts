import { Effect } from "effect"
import { PrismConfig } from "../../src/config.ts"
import type { Scenario } from "../run.ts"
import { audio, on, publishes, receives, sendsFeedback, simulcastVideo, video } from "../scenario.ts"

export const productionTimeouts: Scenario = {
  name: "production-timeouts",
  description:
    "the production defaults (30 s participant timeout, 30 s empty-room grace): a crash is cleaned up " +
    "after a minute of simulated time",
  config: PrismConfig.defaults,
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video(), audio()))
      yield* sim.join("bob", publishes(audio()))
      yield* sim.advance("5 seconds")
      yield* sim.crash("alice")
      yield* sim.advance("40 seconds")
      yield* sim.expect("alice's session is gone from the room", () => sim.env.ledger.openPeers === 1)
    })
}

export const buggifyBusyRoom: Scenario = {
  name: "buggify-busy-room",
  description:
    "five clients, simulcast and plain video, with every injected server fault switched on (queues briefly " +
    "full, sends failing, stalls, lost keyframe requests, fibers dying): the oracles still hold",
  buggify: true,
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(simulcastVideo(), audio()))
      yield* sim.join("bob", publishes(video(), audio()), on("wifi"))
      yield* sim.join("carol", publishes(video({ keyframeIntervalMs: 0 }), audio()))
      yield* sim.join("dave", publishes(audio()), on("cellular"))
      yield* sim.join("erin", publishes(video()))
      yield* sim.advance("10 seconds")
      yield* sim.partition("bob")
      yield* sim.pauseLayer("alice", "f")
      yield* sim.advance("5 seconds")
      yield* sim.heal("bob")
      yield* sim.resumeLayer("alice", "f")
      yield* sim.crash("erin")
      yield* sim.quiet()
      yield* sim.expectLiveness()
    })
}

export const componentFailures: Scenario = {
  name: "component-failures",
  description:
    "fibers of participants and rooms die now and then (each kind several times a run): whatever a dead " +
    "fiber belonged to is taken down within a second, its clients rejoin, and everyone else is unaffected",
  buggifyRates: {
    "track.inbox-full": 0,
    "track.batch-delay": 0,
    "track.keyframe-request-lost": 0,
    "slot.queue-full": 0,
    "slot.send-failed": 0,
    "fiber.track-inbox": 50,
    "fiber.track-nack-poll": 120,
    "fiber.slot-forwarder": 12,
    "fiber.downlink-tick": 60,
    "fiber.layer-allocation": 60,
    "fiber.watchdog": 60,
    "fiber.transport-timer": 60,
    "fiber.room": 120
  },
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(simulcastVideo(), audio()), sendsFeedback())
      yield* sim.join("bob", publishes(video(), audio()), on("wifi"))
      yield* sim.join("carol", publishes(audio()), receives({ audio: 2, video: 2 }), sendsFeedback())
      yield* sim.join("dave", receives({ audio: 2, video: 2 }), sendsFeedback("receiver-reports"))
      yield* sim.advance("20 seconds")
      yield* sim.quiet()
      yield* sim.expectLiveness()
    })
}
