import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { seqDiff } from "../../src/media/sequence-number.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { TestClient, waitFor } from "../support/werift-client.ts"

const counter = async (server: RunningServer, name: string, label: string) => {
  const text = await (await fetch(`${server.internalUrl}/metrics`)).text()
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(label))
  return line ? Number(line.split(" ").at(-1)) : 0
}

/** Fraction of the sequence range between the first and last packet that arrived at least once. */
const coverage = (seqs: ReadonlyArray<number>) => {
  const first = seqs[0]!
  const offsets = new Set(seqs.map((s) => seqDiff(s, first)).filter((d) => d >= 0))
  const span = Math.max(...offsets) + 1
  return offsets.size / span
}

describe("loss recovery with NACK and RTX", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server.close()
  })

  it("answers a lossy subscriber's NACKs from the slot's history", async () => {
    const pub = await TestClient.join(server.baseUrl, "lossy-down", { publish: { video: true } })
    const sub = await TestClient.join(server.baseUrl, "lossy-down", {
      subscribe: { video: 1 },
      lossPercent: { inbound: 10 }
    })
    try {
      await Promise.all([pub.connected(), sub.connected()])
      pub.startPublishing()
      const mid = sub.slotMids[0]!
      await waitFor(() => sub.packetsOn(mid).length > 400, 20_000, "video at the lossy subscriber")
      pub.stopPublishing()
      await new Promise((r) => setTimeout(r, 1500))
      const seqs = sub.packetsOn(mid).map((p) => p.sequenceNumber)
      // 10% of packets are dropped on the subscriber's link; retransmissions fill the gaps.
      expect(coverage(seqs)).toBeGreaterThan(0.98)
      expect(await counter(server, "prism_nacks_total", 'direction="from_subscriber"')).toBeGreaterThan(0)
      const text = await (await fetch(`${server.internalUrl}/metrics`)).text()
      expect(Number(/prism_retransmissions_total (\d+)/.exec(text)?.[1] ?? 0)).toBeGreaterThan(0)
    } finally {
      await Promise.all([pub.close(), sub.close()])
    }
  }, 40_000)

  it("asks a lossy publisher to resend what it lost, at a bounded rate", async () => {
    const pub = await TestClient.join(server.baseUrl, "lossy-up", {
      publish: { video: true },
      lossPercent: { outbound: 10 }
    })
    const sub = await TestClient.join(server.baseUrl, "lossy-up", { subscribe: { video: 1 } })
    try {
      await Promise.all([pub.connected(), sub.connected()])
      pub.startPublishing()
      const mid = sub.slotMids[0]!
      await waitFor(() => sub.packetsOn(mid).length > 400, 20_000, "video from the lossy publisher")
      pub.stopPublishing()
      await new Promise((r) => setTimeout(r, 1500))
      const seqs = sub.packetsOn(mid).map((p) => p.sequenceNumber)
      expect(coverage(seqs)).toBeGreaterThan(0.97)
      const nacked = await counter(server, "prism_nacks_total", 'direction="to_publisher"')
      expect(nacked).toBeGreaterThan(0)
      // Each lost packet is asked for at most 3 times.
      const sent = sub.packetsOn(mid).length
      expect(nacked).toBeLessThan(sent * 0.15 * 3)
    } finally {
      await Promise.all([pub.close(), sub.close()])
    }
  }, 40_000)
})
