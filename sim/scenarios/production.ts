import { Effect } from "effect"
import { PrismConfig } from "../../src/config.ts"
import type { Scenario } from "../run.ts"
import { audio, on, publishes, simulcastVideo, video } from "../scenario.ts"

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
    "full, sends failing, stalls, lost keyframe requests): the oracles still hold",
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
      yield* sim.expectLiveness()
    })
}
