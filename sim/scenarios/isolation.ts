import { Effect } from "effect"
import { profiles } from "../network/profiles.ts"
import type { Scenario } from "../run.ts"
import { as, audio, inRoom, publishes, receives, video } from "../scenario.ts"

export const twoRooms: Scenario = {
  name: "two-rooms",
  description: "two rooms side by side, one client of each crashing and coming back: no packet crosses over",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video(), audio()), inRoom("red"))
      yield* sim.join("bob", publishes(video(), audio()), inRoom("red"))
      yield* sim.join("carol", publishes(video(), audio()), inRoom("blue"))
      yield* sim.join("dave", publishes(video(), audio()), inRoom("blue"))
      yield* sim.advance("3 seconds")
      yield* sim.crash("bob")
      yield* sim.crash("carol")
      yield* sim.advance("2 seconds")
      yield* sim.restart("bob")
      yield* sim.restart("carol")
      yield* sim.expectLiveness()
      for (const [a, b] of [
        ["alice", "carol"],
        ["alice", "dave"],
        ["dave", "alice"],
        ["dave", "bob"]
      ] as const) {
        yield* sim.expectNothingFrom(a, b)
      }
    })
}

export const stuckSubscriber: Scenario = {
  name: "stuck-subscriber",
  description:
    "bob's app hangs for 10 s (reads nothing); alice and carol get every packet of each other all along",
  script: (sim) =>
    Effect.gen(function* () {
      for (const name of ["alice", "bob", "carol"]) yield* sim.join(name, publishes(video(), audio()))
      yield* sim.advance("3 seconds")
      yield* sim.stall("bob")
      yield* sim.expectUnaffected(["bob"], sim.advance("10 seconds"))
      yield* sim.unstall("bob")
      yield* sim.expectLiveness("5 seconds")
    })
}

export const slowSubscriber: Scenario = {
  name: "slow-subscriber",
  description: "bob's downlink is 50 kbit/s, far below what he is sent; alice and carol are not affected",
  script: (sim) =>
    Effect.gen(function* () {
      for (const name of ["alice", "bob", "carol"]) yield* sim.join(name, publishes(video(), audio()))
      yield* sim.advance("3 seconds")
      yield* sim.link("bob").down.set(profiles.slow)
      yield* sim.expectUnaffected(["bob"], sim.advance("10 seconds"))
    })
}

export const whipToWhep: Scenario = {
  name: "whip-to-whep",
  description:
    "a WHIP encoder publishes, two WHEP players watch; the players publish nothing and get no slots filled by each other",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join(
        "encoder",
        as("whip"),
        publishes(video({ bitrateKbps: 1500, fps: 30 }), audio()),
        receives({})
      )
      yield* sim.join("player1", as("whep"), receives({ audio: 1, video: 1 }))
      yield* sim.join("player2", as("whep"), receives({ audio: 1, video: 1 }), inRoom("main"))
      yield* sim.advance("10 seconds")
      yield* sim.expectReceiving("player1", "encoder", "video")
      yield* sim.expectReceiving("player2", "encoder", "audio")
    })
}
