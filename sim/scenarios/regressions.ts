import { chaosScenario } from "../chaos/interpret.ts"
import type { ChaosSpec } from "../chaos/spec.ts"
import type { Scenario } from "../run.ts"

/**
 * Generated scenarios that once failed, shrunk, kept with the seed that found them. Each
 * runs with that seed, and must keep passing.
 */
interface Regression {
  readonly name: string
  readonly seed: number
  readonly why: string
  readonly spec: ChaosSpec
}

const regressions: ReadonlyArray<Regression> = [
  {
    name: "regression-late-keyframe-after-bind",
    seed: 29,
    why:
      "A subscriber joined while a wifi publisher's keyframe was reordered: its later packets arrived first and " +
      "were discarded while the new slot waited for a keyframe, then the late first packet started the stream, " +
      "leaving a hole of 23 packets nothing could fill (SlotForwarder).",
    spec: {
      rooms: 1,
      clients: [
        {
          room: 0,
          role: "participant",
          audio: false,
          video: "none",
          receives: { audio: 0, video: 1 },
          profile: "fiber",
          joinAt: 1735,
          keyframeIntervalMs: 0
        },
        {
          room: 0,
          role: "participant",
          audio: false,
          video: "none",
          receives: { audio: 0, video: 0 },
          profile: "fiber",
          joinAt: 0,
          keyframeIntervalMs: 0
        },
        {
          room: 0,
          role: "participant",
          audio: true,
          video: "simulcast",
          receives: { audio: 0, video: 0 },
          profile: "wifi",
          joinAt: 0,
          keyframeIntervalMs: 0
        },
        {
          room: 0,
          role: "participant",
          audio: false,
          video: "none",
          receives: { audio: 0, video: 0 },
          profile: "fiber",
          joinAt: 0,
          keyframeIntervalMs: 0
        }
      ],
      faults: [],
      chaosMs: 6318,
      isolation: null,
      buggify: false
    }
  },
  {
    name: "regression-stale-keyframe-after-partition",
    seed: 68,
    why:
      "After a publisher's 3.5 s partition healed, the server's NACKs brought back packets from the partition, " +
      "among them an old keyframe; a slot bound during the partition had already discarded the first fresh " +
      "frame and started at the stale keyframe, skipping the frame it had discarded (SlotForwarder).",
    spec: {
      rooms: 1,
      clients: [
        {
          room: 0,
          role: "whep",
          audio: true,
          video: "plain",
          receives: { audio: 1, video: 3 },
          profile: "wifi",
          joinAt: 2998,
          keyframeIntervalMs: 0
        },
        {
          room: 0,
          role: "whip",
          audio: false,
          video: "plain",
          receives: { audio: 0, video: 3 },
          profile: "cellular",
          joinAt: 4,
          keyframeIntervalMs: 0
        },
        {
          room: 0,
          role: "whip",
          audio: false,
          video: "plain",
          receives: { audio: 1, video: 3 },
          profile: "fiber",
          joinAt: 1249,
          keyframeIntervalMs: 4000
        },
        {
          room: 0,
          role: "participant",
          audio: false,
          video: "plain",
          receives: { audio: 1, video: 0 },
          profile: "fiber",
          joinAt: 1,
          keyframeIntervalMs: 4000
        }
      ],
      faults: [{ kind: "partition", client: 3, at: 500, duration: 3528 }],
      chaosMs: 5069,
      isolation: null,
      buggify: false
    }
  },
  {
    name: "regression-straggler-first-after-bind",
    seed: 1310,
    why:
      "A subscriber bound to an audio track just after the publisher's reordered uplink let packet n+1 through " +
      "before packet n: the straggler n arrived after the binding and started the new slot's stream, so n+1, " +
      "which went by before the binding, became a hole in it (Track fan-out).",
    spec: {
      rooms: 2,
      clients: [
        {
          room: 1,
          role: "participant",
          audio: true,
          video: "plain",
          receives: { audio: 1, video: 1 },
          profile: "wifi",
          joinAt: 2999,
          keyframeIntervalMs: 0
        },
        {
          room: 0,
          role: "participant",
          audio: false,
          video: "simulcast",
          receives: { audio: 1, video: 0 },
          profile: "wifi",
          joinAt: 1,
          keyframeIntervalMs: 2000
        },
        {
          room: 0,
          role: "participant",
          audio: true,
          video: "simulcast",
          receives: { audio: 2, video: 2 },
          profile: "wifi",
          joinAt: 2990,
          keyframeIntervalMs: 2000
        },
        {
          room: 0,
          role: "participant",
          audio: true,
          video: "none",
          receives: { audio: 0, video: 1 },
          profile: "fiber",
          joinAt: 4,
          keyframeIntervalMs: 4000
        }
      ],
      faults: [{ kind: "reorder", client: 3, at: 2317, duration: 640 }],
      chaosMs: 5054,
      isolation: null,
      buggify: false
    }
  }
]

export const regressionScenarios: ReadonlyArray<Scenario & { readonly seed: number }> = regressions.map(
  (r) => ({
    ...chaosScenario(r.spec, r.name),
    description: r.why,
    seed: r.seed
  })
)
