import { Effect } from "effect"
import type { Scenario } from "../run.ts"
import { audio, manualReconnect, on, publishes, receives, video } from "../scenario.ts"

export const partitionHeal: Scenario = {
  name: "partition-heal",
  description:
    "bob loses the network for 4 s, less than the server's timeout: media comes back on the same session",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video(), audio()))
      yield* sim.join("bob", receives({ audio: 1, video: 1 }), on("wifi"))
      yield* sim.advance("3 seconds")
      yield* sim.partition("bob")
      yield* sim.advance("4 seconds")
      yield* sim.heal("bob")
      yield* sim.expectLiveness("5 seconds")
      yield* sim.expect("bob kept his session", () => sim.client("bob").sessions.length === 1)
    })
}

export const longPartitionRejoin: Scenario = {
  name: "long-partition-rejoin",
  description:
    "bob is cut off for 15 s, longer than the timeout: the server drops him, his ICE restart is refused " +
    "(404) and he joins again, getting media back",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video(), audio()))
      yield* sim.join("bob", publishes(audio()), receives({ audio: 1, video: 1 }))
      yield* sim.advance("3 seconds")
      yield* sim.partition("bob")
      yield* sim.advance("15 seconds")
      yield* sim.heal("bob")
      yield* sim.expectLiveness()
      yield* sim.expect("bob joined again", () => sim.client("bob").sessions.length === 2)
      yield* sim.expectReceiving("alice", "bob", "audio")
    })
}

export const iceRestart: Scenario = {
  name: "ice-restart",
  description: "bob restarts ICE (PATCH) twice mid-stream and keeps receiving on the same session",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video(), audio()))
      yield* sim.join("bob", receives({ audio: 1, video: 1 }))
      yield* sim.advance("3 seconds")
      yield* sim.iceRestart("bob")
      yield* sim.advance("3 seconds")
      yield* sim.iceRestart("bob")
      yield* sim.advance("3 seconds")
      yield* sim.expectReceiving("bob", "alice", "video")
      yield* sim.expect("one session, two restarts", () => sim.client("bob").sessions[0]?.iceRestarts === 2)
    })
}

export const crashAndTimeout: Scenario = {
  name: "crash-and-timeout",
  description:
    "alice crashes without a word; when the server times her out, bob's only video slot moves to carol's video",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video()))
      // A publication can be bound once its publisher is connected: alice's is the older one.
      yield* sim.advance("500 millis")
      yield* sim.join("carol", publishes(video()))
      yield* sim.join("bob", receives({ video: 1 }))
      yield* sim.advance("3 seconds")
      yield* sim.expectReceiving("bob", "alice", "video")
      yield* sim.crash("alice")
      yield* sim.expectLiveness()
      yield* sim.expectReceiving("bob", "carol", "video")
    })
}

export const closeNotify: Scenario = {
  name: "close-notify",
  description:
    "alice closes her peer connection: the server hears it and bob's slot moves to carol within a second",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video()))
      // A publication can be bound once its publisher is connected: alice's is the older one.
      yield* sim.advance("500 millis")
      yield* sim.join("carol", publishes(video()))
      yield* sim.join("bob", receives({ video: 1 }))
      yield* sim.advance("3 seconds")
      yield* sim.close("alice")
      yield* sim.expectLiveness("1500 millis")
      yield* sim.expectReceiving("bob", "carol", "video")
    })
}

export const rejoinWithGhost: Scenario = {
  name: "rejoin-with-ghost",
  description:
    "alice reloads: she joins again while the server still holds her old session; everyone gets her new " +
    "media once the old one times out",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video(), audio()), receives({ audio: 2, video: 2 }))
      yield* sim.join("bob", publishes(video(), audio()), receives({ audio: 1, video: 1 }))
      yield* sim.advance("3 seconds")
      yield* sim.rejoin("alice")
      yield* sim.expectLiveness()
      yield* sim.expectReceiving("bob", "alice", "video")
      yield* sim.expectReceiving("alice", "bob", "video")
    })
}

export const churnStorm: Scenario = {
  name: "churn-storm",
  description:
    "twelve clients join and vanish within four seconds (leave, crash, close) around two steady ones, " +
    "who keep getting each other's media throughout",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video(), audio()), receives({ audio: 1, video: 1 }))
      yield* sim.join("bob", publishes(video(), audio()), receives({ audio: 1, video: 1 }))
      yield* sim.advance("2 seconds")
      yield* sim.expectUnaffected(
        [],
        Effect.gen(function* () {
          for (let i = 0; i < 12; i++) {
            const name = `guest${i}`
            yield* sim.join(
              name,
              publishes(video(), audio()),
              receives({ audio: 2, video: 2 }),
              manualReconnect
            )
            yield* sim.advance("150 millis")
            if (i >= 2) {
              const old = `guest${i - 2}`
              yield* i % 3 === 0 ? sim.leave(old) : i % 3 === 1 ? sim.crash(old) : sim.close(old)
            }
          }
          yield* sim.advance("2 seconds")
        })
      )
      yield* sim.expectReceiving("alice", "bob", "video")
      yield* sim.expectReceiving("bob", "alice", "audio")
    })
}
