import { Effect } from "effect"
import type { Scenario } from "../run.ts"
import { audio, on, publishes, receives, video } from "../scenario.ts"

export const twoPeers: Scenario = {
  name: "two-peers",
  description: "alice publishes audio and video, bob subscribes; both get media for 20 s",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video(), audio()))
      yield* sim.join("bob", receives({ audio: 1, video: 1 }))
      yield* sim.advance("20 seconds")
      yield* sim.expectReceiving("bob", "alice", "video")
      yield* sim.expectReceiving("bob", "alice", "audio")
    })
}

export const busyRoom: Scenario = {
  name: "busy-room",
  description: "four clients on wifi publish and subscribe; one is partitioned and heals; one crashes",
  script: (sim) =>
    Effect.gen(function* () {
      for (const name of ["alice", "bob", "carol", "dave"]) {
        yield* sim.join(name, publishes(video(), audio()), on("wifi"))
        yield* sim.advance("300 millis")
      }
      yield* sim.advance("5 seconds")
      yield* sim.partition("bob")
      yield* sim.advance("15 seconds")
      yield* sim.heal("bob")
      yield* sim.crash("dave")
      yield* sim.expectLiveness()
      yield* sim.advance("5 seconds")
    })
}
