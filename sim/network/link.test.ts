import type { Clock } from "effect"
import { describe, expect, it } from "vitest"
import { rngStream } from "../engine/rng.ts"
import { Trace } from "../engine/trace.ts"
import { World } from "../engine/world.ts"
import { meanLoss } from "./gilbert-elliott.ts"
import { cleanLink, Link, type LinkSettings } from "./link.ts"
import type { UpPacket } from "./packets.ts"

/** A link on a hand-driven clock: send at chosen times, then run time forward. */
const harness = (settings: Partial<LinkSettings>, seed = 1) => {
  let now = 0
  const clock = { currentTimeMillisUnsafe: () => now } as unknown as Clock.Clock
  const world = new World(clock)
  const link = new Link<UpPacket>("test", world, rngStream(seed, "link"), new Trace(() => now), {
    ...cleanLink,
    ...settings
  })
  const arrivals: Array<{ id: number; at: number }> = []
  const send = (id: number, bytes = 1000) =>
    link.send(
      {
        kind: "rtp",
        conn: "c",
        mid: "0",
        rid: undefined,
        ssrc: 1,
        payloadType: 96,
        sequenceNumber: id & 0xffff,
        timestamp: 0,
        marker: false,
        payload: new Uint8Array(bytes),
        audioLevel: undefined,
        rtx: false
      },
      (p) => {
        if (p.kind === "rtp") arrivals.push({ id: p.sequenceNumber, at: now })
      }
    )
  const runTo = (t: number) => {
    for (; now <= t; now++) world.runDue()
    now = t
  }
  return {
    link,
    arrivals,
    send,
    runTo,
    at: (t: number) => {
      now = t
      world.runDue()
    }
  }
}

describe("simulated link", () => {
  it("delays by latency ± jitter and keeps order", () => {
    const h = harness({ latencyMs: 20, jitterMs: 5 })
    for (let i = 0; i < 200; i++) {
      h.at(i * 2)
      h.send(i)
    }
    h.runTo(1000)
    expect(h.arrivals.map((a) => a.id)).toEqual([...Array(200).keys()])
    for (const a of h.arrivals) {
      expect(a.at - a.id * 2).toBeGreaterThanOrEqual(15)
      expect(a.at - a.id * 2).toBeLessThanOrEqual(26)
    }
  })

  it("loses the configured share uniformly", () => {
    const h = harness({ loss: 0.1 })
    for (let i = 0; i < 20_000; i++) h.send(i)
    h.runTo(100)
    const lost = 1 - h.arrivals.length / 20_000
    expect(lost).toBeGreaterThan(0.09)
    expect(lost).toBeLessThan(0.11)
    expect(h.link.stats.dropped.loss).toBe(20_000 - h.arrivals.length)
  })

  it("loses in bursts with Gilbert–Elliott, at the chain's mean rate", () => {
    const burst = { p: 0.02, r: 0.25, lossGood: 0, lossBad: 1 }
    const h = harness({ burst })
    for (let i = 0; i < 50_000; i++) h.send(i)
    h.runTo(100)
    const got = new Set(h.arrivals.map((a) => a.id))
    let runs = 0
    let lost = 0
    for (let i = 0; i < 50_000; i++) {
      if (got.has(i & 0xffff)) continue
      lost++
      if (i === 0 || got.has((i - 1) & 0xffff)) runs++
    }
    expect(lost / 50_000).toBeCloseTo(meanLoss(burst), 1)
    // bursts last 1/r packets on average
    expect(lost / runs).toBeGreaterThan(3)
    expect(lost / runs).toBeLessThan(5)
  })

  it("serialises at the bottleneck rate and tail-drops beyond its queue", () => {
    // 1000 kbit/s, 1050-byte packets (8.4 ms each), offered every 4 ms: about half gets through
    const h = harness({ latencyMs: 10, bandwidthKbps: 1000, queueMs: 100 })
    for (let i = 0; i < 1000; i++) {
      h.at(i * 4)
      h.send(i)
    }
    h.runTo(6000)
    expect(h.link.stats.maxQueueMs).toBeLessThanOrEqual(100)
    expect(h.link.stats.dropped.queue).toBeGreaterThan(400)
    const rateKbps = (h.arrivals.length * 1050 * 8) / (h.arrivals.at(-1)!.at - h.arrivals[0]!.at)
    expect(rateKbps).toBeGreaterThan(950)
    expect(rateKbps).toBeLessThan(1050)
  })

  it("drops everything while partitioned, including what was in flight, and recovers on heal", () => {
    const h = harness({ latencyMs: 50 })
    h.send(1)
    h.at(10)
    h.link.partition()
    h.send(2)
    h.runTo(100)
    h.link.heal()
    h.send(3)
    h.runTo(200)
    expect(h.arrivals.map((a) => a.id)).toEqual([3])
    expect(h.link.stats.dropped.partition).toBe(2)
  })

  it("reorders and duplicates when asked, and every knob changes mid-run", () => {
    const h = harness({ reorder: 0.2, reorderDelayMs: 30, duplicate: 0.1 })
    for (let i = 0; i < 1000; i++) {
      h.at(i)
      h.send(i)
    }
    h.runTo(2000)
    const ids = h.arrivals.map((a) => a.id)
    expect(ids.some((id, i) => i > 0 && id < ids[i - 1]!)).toBe(true)
    expect(ids.length).toBeGreaterThan(1050)
    h.link.set({ reorder: 0, duplicate: 0, latencyMs: 100 })
    const before = h.arrivals.length
    h.at(3000)
    h.send(5000)
    h.runTo(3200)
    expect(h.arrivals.length).toBe(before + 1)
    expect(h.arrivals.at(-1)!.at).toBe(3100)
  })

  it("gives the same fates for the same seed", () => {
    const fates = (seed: number) => {
      const h = harness({ loss: 0.2, jitterMs: 4, latencyMs: 10 }, seed)
      for (let i = 0; i < 300; i++) h.send(i)
      h.runTo(100)
      return h.arrivals.map((a) => `${a.id}@${a.at}`).join(",")
    }
    expect(fates(5)).toBe(fates(5))
    expect(fates(5)).not.toBe(fates(6))
  })
})
