import { Effect } from "effect"
import type { Scenario } from "../run.ts"
import { audio, on, publishes, receives, video } from "../scenario.ts"

export const subscriberLoss30: Scenario = {
  name: "subscriber-30-percent-loss",
  description:
    "bob's link loses 30 % of packets both ways: his NACKs and the server's retransmissions stay bounded " +
    "and he still decodes alice's video",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video({ keyframeIntervalMs: 2000 }), audio()))
      yield* sim.join("bob", receives({ audio: 1, video: 1 }), on("lossy"))
      yield* sim.advance("30 seconds")
      yield* sim.expectReceiving("bob", "alice", "video")
    })
}

export const publisherLoss30: Scenario = {
  name: "publisher-30-percent-loss",
  description:
    "alice's uplink loses 30 %: the server's NACKs to her cover each lost packet at most three times, and " +
    "bob (clean link) still gets video",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video({ keyframeIntervalMs: 2000 }), audio()), receives({}))
      yield* sim.link("alice").up.set({ loss: 0.3 })
      yield* sim.join("bob", receives({ audio: 1, video: 1 }))
      yield* sim.advance("30 seconds")
      yield* sim.expectReceiving("bob", "alice", "video")
    })
}

export const wifiBurstLoss: Scenario = {
  name: "wifi-burst-loss",
  description: "four clients on wifi with bursty (Gilbert–Elliott) loss publish and subscribe for 30 s",
  script: (sim) =>
    Effect.gen(function* () {
      for (const name of ["alice", "bob", "carol", "dave"]) {
        yield* sim.join(name, publishes(video(), audio()), on("wifi"))
      }
      yield* sim.link("carol").set({ burst: { p: 0.02, r: 0.2, lossGood: 0, lossBad: 0.8 } })
      yield* sim.advance("30 seconds")
      yield* sim.expectLiveness("5 seconds")
    })
}

export const reorderAndDuplicate: Scenario = {
  name: "reorder-and-duplicate",
  description: "every link reorders 10 % of packets by 25 ms and duplicates 5 %: output stays continuous",
  script: (sim) =>
    Effect.gen(function* () {
      for (const name of ["alice", "bob", "carol"]) {
        yield* sim.join(name, publishes(video(), audio()))
        yield* sim.link(name).set({ reorder: 0.1, reorderDelayMs: 25, duplicate: 0.05 })
      }
      yield* sim.advance("20 seconds")
      yield* sim.expectLiveness("5 seconds")
    })
}

export const congestedCellular: Scenario = {
  name: "congested-cellular",
  description:
    "alice sends 2.5 Mbit/s over a 1 Mbit/s cellular uplink (the simulated encoder does not adapt): its queue " +
    "tail-drops most frames, the server's NACKs stay within bounds, and what gets through reaches bob",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join(
        "alice",
        publishes(video({ bitrateKbps: 2500, fps: 30, keyframeIntervalMs: 2000 })),
        on("cellular")
      )
      yield* sim.link("alice").up.set({ bandwidthKbps: 1000 })
      yield* sim.join("bob", receives({ video: 1 }))
      yield* sim.advance("20 seconds")
      yield* sim.expect("bob gets alice's packets", () => {
        const receiver = [...(sim.client("bob").current?.receivers.values() ?? [])][0]
        return (receiver?.packets ?? 0) > 1000 || `${receiver?.packets ?? 0} packets`
      })
    })
}
