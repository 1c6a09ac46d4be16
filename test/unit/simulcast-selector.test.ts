import { describe, expect, it } from "vitest"
import { SimulcastSelector } from "../../src/media/simulcast-selector.ts"

/** Feeds three layers (low, mid, high bitrate) for `ms` milliseconds; returns forwarded SSRCs. */
const run = (
  selector: SimulcastSelector,
  fromMs: number,
  ms: number,
  layers: ReadonlyArray<{ ssrc: number; bytes: number; flowing: boolean }>,
  keyframeEvery = 500
) => {
  const forwarded: number[] = []
  for (let t = fromMs; t < fromMs + ms; t += 10) {
    for (const layer of layers) {
      if (!layer.flowing) continue
      if (selector.onPacket(layer.ssrc, layer.bytes, t % keyframeEvery === 0, t) === "forward")
        forwarded.push(layer.ssrc)
    }
    selector.evaluate(t)
  }
  return forwarded
}

describe("simulcast selector", () => {
  it("settles on the highest-bitrate layer, switching only at its keyframe", () => {
    const selector = new SimulcastSelector()
    const layers = [
      { ssrc: 1, bytes: 100, flowing: true },
      { ssrc: 2, bytes: 400, flowing: true },
      { ssrc: 3, bytes: 1200, flowing: true }
    ]
    run(selector, 0, 3000, layers)
    expect(selector.currentSsrc).toBe(3)
    const later = run(selector, 3000, 1000, layers)
    expect(new Set(later)).toEqual(new Set([3]))
  })

  it("falls back to a lower layer when the top one stops, and never forwards two layers at once", () => {
    const selector = new SimulcastSelector()
    const layers = [
      { ssrc: 1, bytes: 100, flowing: true },
      { ssrc: 2, bytes: 400, flowing: true },
      { ssrc: 3, bytes: 1200, flowing: true }
    ]
    run(selector, 0, 3000, layers)
    const paused = [layers[0]!, layers[1]!, { ...layers[2]!, flowing: false }]
    run(selector, 3000, 4000, paused)
    expect(selector.currentSsrc).toBe(2)
  })
})
