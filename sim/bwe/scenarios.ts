import { Effect } from "effect"
import type { VideoSpec } from "../clients/media-spec.ts"
import { realisticSimulcast } from "../clients/media-spec.ts"
import { ramp, stepTo } from "../network/capacity-schedule.ts"
import type { GilbertElliott } from "../network/gilbert-elliott.ts"
import { profiles } from "../network/profiles.ts"
import type { Scenario } from "../run.ts"
import { audio, on, publishes, receives, type Sim, sendsFeedback } from "../scenario.ts"
import { layerRates } from "./layer-fit.ts"
import { type LayerOutage, measureSubscriber } from "./measurements.ts"
import { SubscriberMeter } from "./subscriber-meter.ts"

/**
 * Bandwidth-adaptation scenarios (issue 4): alice publishes a realistic three-layer
 * simulcast camera and audio; subscribers that send transport-wide feedback sit behind
 * downlinks whose capacity changes. Each scenario measures what every subscriber received
 * (`sim.bwe`); the contract is judged in `bwe-scenarios.test.ts`, the figures go to the
 * scoreboard (`npm run sim:scoreboard`).
 */

export interface BweScenario extends Scenario {
  readonly seed: number
}

const PUBLISHER = "alice"
const WARMUP = "2 seconds"

const downlink = (kbps: number | undefined) => on({ ...profiles.fiber, bandwidthKbps: kbps, queueMs: 200 })

const subscriber = (sim: Sim, name: string, kbps: number | undefined) =>
  sim.join(name, receives({ audio: 1, video: 1 }), sendsFeedback("transport-cc"), downlink(kbps))

const publisher = (sim: Sim) =>
  sim.join(PUBLISHER, publishes(realisticSimulcast(), audio()), receives({}), on("fiber"))

/**
 * Starts measuring the subscribers, runs the story, then records the measurements.
 * `outages` are the publisher's stopped layers, in milliseconds from the start of the story.
 */
const measured = (
  sim: Sim,
  subscribers: ReadonlyArray<string>,
  story: Effect.Effect<void>,
  outages: ReadonlyArray<LayerOutage> = []
) =>
  Effect.gen(function* () {
    const start = sim.now
    const meters = subscribers.map(
      (name) => new SubscriberMeter(sim.client(name), sim.client(PUBLISHER), sim.now)
    )
    yield* story
    const spec = sim.client(PUBLISHER).spec.publishes.find((t): t is VideoSpec => t.kind === "video")!
    const layers = layerRates(spec)
    sim.bwe = {
      publisher: PUBLISHER,
      layers,
      subscribers: meters.map((meter) =>
        measureSubscriber(
          meter.finish(sim.now),
          layers,
          outages.map((o) => ({ ...o, from: start + o.from, to: start + o.to }))
        )
      )
    }
  })

export const capacitySteps: BweScenario = {
  name: "bwe-capacity-steps",
  seed: 1,
  description:
    "bob's downlink drops from 2.5 Mbit/s to 400 kbit/s for 15 s and comes back: he should step down to a " +
    "layer that fits within 2 s and back up within 10 s",
  script: (sim) =>
    Effect.gen(function* () {
      yield* publisher(sim)
      yield* subscriber(sim, "bob", 2500)
      yield* sim.advance(WARMUP)
      yield* measured(
        sim,
        ["bob"],
        Effect.gen(function* () {
          yield* sim.link("bob").down.capacity(stepTo(15_000, 400), stepTo(30_000, 2500))
          yield* sim.advance("45 seconds")
        })
      )
    })
}

export const slidingCapacity: BweScenario = {
  name: "bwe-sliding-capacity",
  seed: 1,
  description:
    "bob's downlink slides from 3 Mbit/s down to 300 kbit/s over 20 s and back up over 20 s: his layer " +
    "should follow it down in time and climb back without oscillating",
  script: (sim) =>
    Effect.gen(function* () {
      yield* publisher(sim)
      yield* subscriber(sim, "bob", 3000)
      yield* sim.advance(WARMUP)
      yield* measured(
        sim,
        ["bob"],
        Effect.gen(function* () {
          yield* sim.link("bob").down.capacity(ramp(5000, 25_000, 3000, 300), ramp(30_000, 50_000, 300, 3000))
          yield* sim.advance("55 seconds")
        })
      )
    })
}

/** 5 % loss on average, in bursts of four packets. */
export const BURSTY_5_PERCENT: GilbertElliott = { p: 0.0132, r: 0.25, lossGood: 0, lossBad: 1 }

export const burstyLoss: BweScenario = {
  name: "bwe-bursty-loss",
  seed: 1,
  description:
    "bob has 3 Mbit/s but loses 5 % of his downlink in bursts: loss is not congestion, he should keep a " +
    "high layer without flapping between layers",
  script: (sim) =>
    Effect.gen(function* () {
      yield* publisher(sim)
      yield* subscriber(sim, "bob", 3000)
      yield* sim.link("bob").down.set({ burst: BURSTY_5_PERCENT })
      yield* sim.advance(WARMUP)
      yield* measured(sim, ["bob"], sim.advance("40 seconds"))
    })
}

export const thinLink: BweScenario = {
  name: "bwe-thin-link",
  seed: 1,
  description:
    "bob's downlink is 150 kbit/s, below even the lowest layer with audio: he should get the lowest layer " +
    "or a paused video slot, and his audio intact",
  script: (sim) =>
    Effect.gen(function* () {
      yield* publisher(sim)
      yield* subscriber(sim, "bob", 150)
      yield* sim.advance(WARMUP)
      yield* measured(sim, ["bob"], sim.advance("30 seconds"))
    })
}

export const TOP_LAYER_STOPS_AT_MS = 10_000
export const TOP_LAYER_RESUMES_AT_MS = 25_000

export const topLayerStops: BweScenario = {
  name: "bwe-top-layer-stops",
  seed: 1,
  description:
    "alice's top layer stops for 15 s (her encoder dropped it) while bob and carol have room for it: they " +
    "move to the middle layer at once and back to the top when it returns",
  script: (sim) =>
    Effect.gen(function* () {
      yield* publisher(sim)
      yield* subscriber(sim, "bob", 3000)
      yield* subscriber(sim, "carol", undefined)
      yield* sim.advance(WARMUP)
      yield* measured(
        sim,
        ["bob", "carol"],
        Effect.gen(function* () {
          yield* sim.advance(`${TOP_LAYER_STOPS_AT_MS} millis`)
          yield* sim.pauseLayer(PUBLISHER, "f")
          yield* sim.advance(`${TOP_LAYER_RESUMES_AT_MS - TOP_LAYER_STOPS_AT_MS} millis`)
          yield* sim.resumeLayer(PUBLISHER, "f")
          yield* sim.advance("15 seconds")
        }),
        [{ layer: 0, from: TOP_LAYER_STOPS_AT_MS, to: TOP_LAYER_RESUMES_AT_MS }]
      )
    })
}

/** Downlinks of the ten viewers, in kbit/s (undefined: uncapped). */
export const TEN_VIEWER_CAPACITIES: ReadonlyArray<number | undefined> = [
  150,
  300,
  500,
  800,
  1200,
  1600,
  2000,
  2500,
  3500,
  undefined
]

export const tenSubscribers: BweScenario = {
  name: "bwe-ten-subscribers",
  seed: 1,
  description:
    "ten viewers with downlinks from 150 kbit/s to uncapped watch alice: each should get the layer its own " +
    "downlink carries, none starved, audio intact",
  script: (sim) =>
    Effect.gen(function* () {
      yield* publisher(sim)
      const names = TEN_VIEWER_CAPACITIES.map((_, i) => `viewer${i + 1}`)
      for (const [i, name] of names.entries()) yield* subscriber(sim, name, TEN_VIEWER_CAPACITIES[i])
      yield* sim.advance(WARMUP)
      yield* measured(sim, names, sim.advance("40 seconds"))
    })
}

export const bweScenarios: ReadonlyArray<BweScenario> = [
  capacitySteps,
  slidingCapacity,
  burstyLoss,
  thinLink,
  topLayerStops,
  tenSubscribers
]
