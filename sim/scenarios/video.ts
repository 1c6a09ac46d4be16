import { Effect } from "effect"
import type { Scenario } from "../run.ts"
import { acceptsVideo, audio, on, publishes, receives, simulcastVideo, video } from "../scenario.ts"

const pauseAndResumeTopLayer = (sim: Parameters<Scenario["script"]>[0], publisher: string, rounds: number) =>
  Effect.gen(function* () {
    for (let round = 0; round < rounds; round++) {
      yield* sim.pauseLayer(publisher, "f")
      yield* sim.advance("4 seconds")
      yield* sim.resumeLayer(publisher, "f")
      yield* sim.advance("4 seconds")
    }
  })

export const simulcastSwitching: Scenario = {
  name: "simulcast-switching",
  description:
    "alice sends three simulcast layers; her top layer pauses and resumes three times, so the server switches " +
    "layers down and up; bob and carol always get decodable video that starts each layer at a keyframe",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(simulcastVideo(), audio()), receives({}))
      yield* sim.join("bob", receives({ video: 1, audio: 1 }))
      yield* sim.join("carol", receives({ video: 1, audio: 1 }), on("wifi"))
      yield* sim.advance("3 seconds")
      yield* pauseAndResumeTopLayer(sim, "alice", 3)
      yield* sim.expectReceiving("bob", "alice", "video")
      yield* sim.expectReceiving("carol", "alice", "video")
    })
}

export const simulcastReorderedUplink: Scenario = {
  name: "simulcast-reordered-uplink",
  description:
    "like simulcast-switching, but alice's uplink reorders packets, so the first packet of the keyframe a " +
    "switch waits for can arrive after the rest of its frame",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(simulcastVideo({ keyframeIntervalMs: 0 })), receives({}))
      yield* sim.link("alice").up.set({ reorder: 0.3, reorderDelayMs: 12 })
      for (const name of ["bob", "carol", "dave"]) yield* sim.join(name, receives({ video: 1 }))
      yield* sim.advance("2 seconds")
      yield* pauseAndResumeTopLayer(sim, "alice", 4)
      yield* sim.link("alice").up.set({ reorder: 0 })
      yield* sim.expectLiveness()
    })
}

export const keyframeRequestStorm: Scenario = {
  name: "keyframe-request-storm",
  description:
    "eight subscribers on lossy links keep asking for keyframes; alice's encoder sees at most one request " +
    "per KEYFRAME_REQUEST_INTERVAL",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video({ keyframeIntervalMs: 0 })), receives({}))
      for (let i = 0; i < 8; i++) {
        yield* sim.join(`viewer${i}`, receives({ video: 1 }), on("lossy"))
      }
      yield* sim.advance("20 seconds")
      yield* sim.expect("alice got keyframe requests, but few", () => {
        const requests = sim.client("alice").current?.publishers[0]?.keyframeRequests ?? 0
        return (requests > 0 && requests <= 41) || `${requests} requests in 20 s`
      })
    })
}

export const codecMismatch: Scenario = {
  name: "codec-mismatch",
  description: "bob's video slots accept only H.264 and alice sends VP8: bob gets alice's audio and no video",
  script: (sim) =>
    Effect.gen(function* () {
      yield* sim.join("alice", publishes(video(), audio()))
      yield* sim.join("bob", receives({ audio: 1, video: 1 }), acceptsVideo("H264"))
      yield* sim.advance("5 seconds")
      yield* sim.expectReceiving("bob", "alice", "audio")
      yield* sim.expect("bob's video slot stays empty", () => {
        const video = [...(sim.client("bob").current?.receivers.values() ?? [])].find(
          (r) => r.kind === "video"
        )
        return video?.packets === 0 || `${video?.packets} packets`
      })
    })
}
