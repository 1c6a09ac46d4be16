import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { FLOWING_MS, LayerMonitor, STOPPED_LAYER_MS } from "../../src/media/layer-monitor.ts"
import { RTP_HEADER_BYTES, TRANSPORT_OVERHEAD_BYTES } from "../../src/media/packet-overhead.ts"

/** What each packet costs the subscriber's link besides its payload. */
const OVERHEAD = RTP_HEADER_BYTES + TRANSPORT_OVERHEAD_BYTES
const MTU = 1200

/** A VP8 payload: a keyframe announcing width x height, or a delta frame, padded to `length` bytes. */
const vp8 = (length: number, size?: { width: number; height: number }): Uint8Array => {
  const p = new Uint8Array(Math.max(length, 11))
  p[0] = 0x10
  if (size) {
    p.set([0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a], 1)
    p[7] = size.width & 0xff
    p[8] = size.width >> 8
    p[9] = size.height & 0xff
    p[10] = size.height >> 8
  } else {
    p[1] = 0x51
  }
  return p
}

interface LayerSpec {
  readonly ssrc: number
  readonly rid: string | undefined
  readonly fps: number
  readonly frameBytes: number
  readonly keyframeEveryFrames: number
  readonly keyframeFactor: number
  readonly size?: { width: number; height: number }
}

/** Feeds `durationMs` of each layer's frames, each cut into MTU-sized packets, interleaved by time. */
const feed = (
  monitor: LayerMonitor,
  layers: ReadonlyArray<LayerSpec>,
  fromMs: number,
  durationMs: number
) => {
  const events: Array<{ at: number; run: () => void }> = []
  for (const layer of layers) {
    const interval = 1000 / layer.fps
    const first = Math.ceil(fromMs / interval)
    for (let n = first; n * interval < fromMs + durationMs; n++) {
      const at = n * interval
      const key = n % layer.keyframeEveryFrames === 0
      const bytes = key ? layer.frameBytes * layer.keyframeFactor : layer.frameBytes
      const packets = Math.ceil(bytes / MTU)
      for (let i = 0; i < packets; i++) {
        const length = i < packets - 1 ? MTU : bytes - MTU * (packets - 1)
        const payload = key && i === 0 ? vp8(length, layer.size) : vp8(length)
        events.push({
          at: at + i * 0.1,
          run: () =>
            monitor.onPacket(
              {
                ssrc: layer.ssrc,
                rid: layer.rid,
                timestamp: (n * Math.round(90000 / layer.fps)) >>> 0,
                payload
              },
              "VP8",
              key && i === 0,
              at + i * 0.1
            )
        })
      }
    }
  }
  events.sort((a, b) => a.at - b.at)
  for (const e of events) e.run()
}

/** What the layer costs with every frame the size of a delta frame. */
const steadyRate = (l: LayerSpec) => l.fps * (l.frameBytes + Math.ceil(l.frameBytes / MTU) * OVERHEAD) * 8

const layer = (overrides: Partial<LayerSpec> & { ssrc: number }): LayerSpec => ({
  rid: undefined,
  fps: 30,
  frameBytes: 2000,
  keyframeEveryFrames: 1_000_000,
  keyframeFactor: 1,
  ...overrides
})

describe("LayerMonitor rates", () => {
  it("measures a steady layer's bitrate and frame rate", () => {
    const monitor = new LayerMonitor()
    const spec = layer({ ssrc: 1, frameBytes: 3000 })
    feed(monitor, [spec], 0, 3000)
    const info = monitor.layer(1, 3000)!
    expect(info.bitrateBps / steadyRate(spec)).toBeCloseTo(1, 1)
    expect(info.fps).toBeGreaterThan(28)
    expect(info.fps).toBeLessThan(32)
  })

  it("is not moved by keyframe bursts, and tracks any steady layer within about a frame's worth", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(7.5, 15, 24, 30, 60),
        fc.integer({ min: 200, max: 8000 }),
        fc.integer({ min: 10, max: 120 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 2000, max: 6000 }),
        (fps, frameBytes, keyframeEveryFrames, keyframeFactor, at) => {
          const monitor = new LayerMonitor()
          const spec = layer({ ssrc: 7, fps, frameBytes, keyframeEveryFrames, keyframeFactor })
          feed(monitor, [spec], 0, at)
          const info = monitor.layer(7, at)!
          const tolerance = 1.5 / fps + 0.03
          expect(Math.abs(info.bitrateBps / steadyRate(spec) - 1)).toBeLessThanOrEqual(tolerance)
          expect(Math.abs(info.fps / fps - 1)).toBeLessThanOrEqual(tolerance)
        }
      ),
      { seed: 21, numRuns: 150 }
    )
  })

  it("a keyframe right now does not raise the rate", () => {
    const monitor = new LayerMonitor()
    const spec = layer({ ssrc: 3, frameBytes: 1500 })
    feed(monitor, [spec], 0, 2000)
    const before = monitor.layer(3, 2000)!.bitrateBps
    // a keyframe twenty times a delta frame
    monitor.onPacket(
      { ssrc: 3, rid: undefined, timestamp: 999_999, payload: vp8(30_000, { width: 640, height: 360 }) },
      "VP8",
      true,
      2010
    )
    const after = monitor.layer(3, 2010)!.bitrateBps
    expect(after / before).toBeLessThan(1.1)
  })
})

describe("LayerMonitor flowing", () => {
  it("a layer that stops while another flows stops flowing after 0.5 s, and its rate then decays to zero", () => {
    const monitor = new LayerMonitor()
    feed(monitor, [layer({ ssrc: 1 }), layer({ ssrc: 2 })], 0, 2000)
    const last = 2000 - 1000 / 30
    feed(monitor, [layer({ ssrc: 2 })], 2000, last + STOPPED_LAYER_MS - 1 - 2000)
    expect(monitor.layer(1, last + STOPPED_LAYER_MS - 1)!.flowing).toBe(true)
    feed(monitor, [layer({ ssrc: 2 })], last + STOPPED_LAYER_MS - 1, 5000 - (last + STOPPED_LAYER_MS - 1))
    expect(monitor.layer(1, last + STOPPED_LAYER_MS + 1)!.flowing).toBe(false)
    expect(monitor.layer(1, 3500)!.bitrateBps).toBe(0)
    expect(monitor.flowingLayers(4500).map((l) => l.ssrc)).toEqual([2])
    expect(
      monitor
        .layers(4500)
        .map((l) => l.ssrc)
        .sort()
    ).toEqual([1, 2])
  })
})

describe("LayerMonitor slow layers", () => {
  it("a slow layer (screen content at 2 fps) is not called stopped between its frames, only after three intervals", () => {
    const monitor = new LayerMonitor()
    feed(monitor, [layer({ ssrc: 1, fps: 2 }), layer({ ssrc: 2 })], 0, 3000)
    // its last frame went out at 2500 ms; the other layer keeps flowing
    feed(monitor, [layer({ ssrc: 2 })], 3000, 1000)
    expect(monitor.layer(1, 3100)!.flowing).toBe(true)
    expect(monitor.layer(1, 3900)!.flowing).toBe(true)
    feed(monitor, [layer({ ssrc: 2 })], 4000, 500)
    expect(monitor.layer(1, 4100)!.flowing).toBe(false)
  })
})

describe("LayerMonitor stalls", () => {
  it("when the whole track falls silent (the publisher's uplink), its layers flow on for 1.5 s", () => {
    const monitor = new LayerMonitor()
    feed(monitor, [layer({ ssrc: 1 }), layer({ ssrc: 2, fps: 15 })], 0, 2000)
    // Layer 2 sent its last frame 33 ms before layer 1 did: no sign that layer 1 flowed on without it.
    const flowing = (nowMs: number) =>
      monitor
        .flowingLayers(nowMs)
        .map((l) => l.ssrc)
        .sort()
    const last2 = 2000 - 1000 / 15
    expect(flowing(last2 + FLOWING_MS - 1)).toEqual([1, 2])
    expect(flowing(last2 + FLOWING_MS + 1)).toEqual([1])
    expect(flowing(2000 + FLOWING_MS)).toEqual([])
    // The track comes back: so do its layers.
    feed(monitor, [layer({ ssrc: 1 }), layer({ ssrc: 2, fps: 15 })], 4000, 100)
    expect(flowing(4100)).toEqual([1, 2])
  })
})

describe("LayerMonitor ordering", () => {
  const sizes = [
    { width: 320, height: 180 },
    { width: 640, height: 360 },
    { width: 1280, height: 720 }
  ]

  it("orders by resolution once keyframes announced it, whatever the rids, SSRCs or bitrates say", () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray([0, 1, 2], { minLength: 3, maxLength: 3 }),
        fc.array(fc.integer({ min: 300, max: 5000 }), { minLength: 3, maxLength: 3 }),
        (arrival, rates) => {
          const monitor = new LayerMonitor(["f", "h", "q"]) // a misleading declaration
          const specs = arrival.map((quality, i) =>
            layer({
              ssrc: 100 + i,
              rid: `r${i}`,
              frameBytes: rates[i]!,
              keyframeEveryFrames: 30,
              keyframeFactor: 3,
              size: sizes[quality]!
            })
          )
          feed(monitor, specs, 0, 1500)
          const ordered = monitor.layers(1500).map((l) => l.height)
          expect(ordered).toEqual([180, 360, 720])
        }
      ),
      { seed: 22, numRuns: 30 }
    )
  })

  it("without a resolution, orders by the rids' declared order until a second of bitrate is known", () => {
    const monitor = new LayerMonitor(["q", "h", "f"])
    const specs = [
      layer({ ssrc: 5, rid: "f", frameBytes: 200 }),
      layer({ ssrc: 6, rid: "q", frameBytes: 4000 }),
      layer({ ssrc: 7, rid: "h", frameBytes: 1000 })
    ]
    feed(monitor, specs, 0, 500)
    expect(monitor.layers(500).map((l) => l.rid)).toEqual(["q", "h", "f"])
    feed(monitor, specs, 500, 1000)
    expect(monitor.layers(1500).map((l) => l.rid)).toEqual(["f", "h", "q"])
  })

  it("keeps a bitrate order through noise, and changes it when a lower layer clearly outruns a higher one", () => {
    const monitor = new LayerMonitor()
    const a = layer({ ssrc: 1, frameBytes: 1000 })
    const b = layer({ ssrc: 2, frameBytes: 1150 })
    feed(monitor, [a, b], 0, 2000)
    expect(monitor.layers(2000).map((l) => l.ssrc)).toEqual([1, 2])
    // a is now 10 % above b: within the noise band
    feed(monitor, [{ ...a, frameBytes: 1265 }, b], 2000, 2000)
    expect(monitor.layers(4000).map((l) => l.ssrc)).toEqual([1, 2])
    // a is now twice b
    feed(monitor, [{ ...a, frameBytes: 2300 }, b], 4000, 2000)
    expect(monitor.layers(6000).map((l) => l.ssrc)).toEqual([2, 1])
  })

  it("a layer paused by the publisher keeps its place", () => {
    const monitor = new LayerMonitor()
    const specs = [
      layer({ ssrc: 1, frameBytes: 4000 }),
      layer({ ssrc: 2, frameBytes: 1500 }),
      layer({ ssrc: 3, frameBytes: 500 })
    ]
    feed(monitor, specs, 0, 2000)
    expect(monitor.layers(2000).map((l) => l.ssrc)).toEqual([3, 2, 1])
    feed(monitor, specs.slice(1), 2000, 4000)
    expect(monitor.layers(6000).map((l) => l.ssrc)).toEqual([3, 2, 1])
    expect(monitor.flowingLayers(6000).map((l) => l.ssrc)).toEqual([3, 2])
  })
})

describe("LayerMonitor identity", () => {
  it("keeps a layer's rid when later packets omit it, and a rid on a new SSRC replaces the old one", () => {
    const monitor = new LayerMonitor(["q", "f"])
    const packet = (ssrc: number, rid: string | undefined, ts: number) => ({
      ssrc,
      rid,
      timestamp: ts,
      payload: vp8(100)
    })
    monitor.onPacket(packet(10, "q", 0), "VP8", false, 0)
    monitor.onPacket(packet(10, undefined, 3000), "VP8", false, 33)
    monitor.onPacket(packet(20, "f", 0), "VP8", false, 40)
    expect(monitor.layers(50).map((l) => [l.ssrc, l.rid])).toEqual([
      [10, "q"],
      [20, "f"]
    ])
    monitor.onPacket(packet(30, "q", 0), "VP8", false, 60)
    expect(monitor.layers(70).map((l) => [l.ssrc, l.rid])).toEqual([
      [30, "q"],
      [20, "f"]
    ])
  })

  it("remembers a bounded number of SSRCs, evicting the longest silent", () => {
    const monitor = new LayerMonitor()
    for (let ssrc = 1; ssrc <= 20; ssrc++)
      monitor.onPacket({ ssrc, rid: undefined, timestamp: 0, payload: vp8(100) }, "VP8", false, ssrc)
    const known = monitor.layers(30).map((l) => l.ssrc)
    expect(known.length).toBe(8)
    expect([...known].sort((x, y) => x - y)).toEqual([13, 14, 15, 16, 17, 18, 19, 20])
  })

  it("survives arbitrary packets: each SSRC listed once, finite non-negative figures", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            ssrc: fc.integer({ min: 0, max: 12 }),
            rid: fc.option(fc.constantFrom("a", "b", "c"), { nil: undefined }),
            timestamp: fc.integer({ min: 0, max: 0xffffffff }),
            payload: fc.uint8Array({ maxLength: 40 }),
            keyframe: fc.boolean(),
            dt: fc.integer({ min: -50, max: 3000 })
          }),
          { maxLength: 200 }
        ),
        (packets) => {
          const monitor = new LayerMonitor(["c", "a"])
          let now = 1_000_000
          for (const p of packets) {
            now += p.dt
            monitor.onPacket(p, "VP9", p.keyframe, now)
            const layers = monitor.layers(now)
            expect(new Set(layers.map((l) => l.ssrc)).size).toBe(layers.length)
            for (const l of layers) {
              expect(Number.isFinite(l.bitrateBps) && l.bitrateBps >= 0).toBe(true)
              expect(Number.isFinite(l.fps) && l.fps >= 0).toBe(true)
            }
          }
        }
      ),
      { seed: 23, numRuns: 200 }
    )
  })
})
