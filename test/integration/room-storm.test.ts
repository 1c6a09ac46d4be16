import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readStorm } from "../support/read-storm.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { TestClient, waitFor } from "../support/werift-client.ts"
import { restartWeriftIce } from "../support/werift-ice-restart.ts"

/**
 * Reads of a room never go through its mailbox and nothing the room does waits on a peer
 * connection: 400 concurrent reads of a room while one of its members leaves, restarts ICE or
 * joins all get 200, the change itself goes through, a new join right after is answered within
 * a second, and the media of a steady publisher/subscriber pair in the same room never pauses.
 */

const READS = 400
/** A pause a viewer would notice. The steady pair's video runs at 90 packets/s. */
const PAUSE_MS = 1000

const largestGap = (times: ReadonlyArray<number>, from: number, to: number): number => {
  let previous = from
  let largest = 0
  for (const at of times) {
    if (at < from || at > to) continue
    largest = Math.max(largest, at - previous)
    previous = at
  }
  return Math.max(largest, to - previous)
}

describe("a room under a storm of reads", () => {
  let server: RunningServer
  let publisher: TestClient
  let subscriber: TestClient
  const room = "storm"
  const roomUrl = () => `${server.baseUrl}/api/v1/rooms/${room}`

  beforeAll(async () => {
    server = await startServer()
    publisher = await TestClient.join(server.baseUrl, room, { publish: { video: true }, tag: 1 })
    subscriber = await TestClient.join(server.baseUrl, room, { subscribe: { video: 1 } })
    await Promise.all([publisher.connected(), subscriber.connected()])
    publisher.startPublishing()
    await waitFor(
      () => subscriber.packetsOn(subscriber.slotMids[0]!).length > 30,
      10_000,
      "the steady pair's media"
    )
  })

  afterAll(async () => {
    await publisher?.leave()
    await subscriber?.leave()
    await server?.close()
  })

  /** Runs `change` while the reads land; checks the reads, the steady media and a join after. */
  const duringStorm = async <A>(change: () => Promise<A>): Promise<A> => {
    const storm = await readStorm(roomUrl(), READS)
    const from = performance.now()
    const [statuses, result] = await Promise.all([storm.fire(), change()])
    expect(statuses.filter((s) => s !== 200)).toEqual([])

    const started = performance.now()
    const newcomer = await TestClient.join(server.baseUrl, room, { subscribe: { video: 1 } })
    const answeredInMs = performance.now() - started
    const to = performance.now()
    await newcomer.leave()
    const arrivals = subscriber.packetsOn(subscriber.slotMids[0]!).map((p) => p.atMs)
    const gap = largestGap(arrivals, from, to)
    console.log(
      `storm: join answered in ${Math.round(answeredInMs)} ms, largest media gap ${Math.round(gap)} ms`
    )
    expect(answeredInMs).toBeLessThan(1000)
    expect(gap).toBeLessThan(PAUSE_MS)
    return result
  }

  it("during a DELETE", { timeout: 60_000 }, async () => {
    const leaving = await TestClient.join(server.baseUrl, room, { publish: { video: true }, tag: 2 })
    await leaving.connected()
    const status = await duringStorm(() => leaving.leave())
    expect(status).toBe(204)
    expect((await fetch(`${server.baseUrl}${leaving.location}`, { method: "DELETE" })).status).toBe(404)
  })

  it("during an ICE restart", { timeout: 60_000 }, async () => {
    const restarting = await TestClient.join(server.baseUrl, room, { subscribe: { video: 1 } })
    try {
      await restarting.connected()
      const result = await duringStorm(() => restartWeriftIce(restarting))
      expect(result.status).toBe(200)
      await waitFor(
        () => restarting.packetsOn(restarting.slotMids[0]!).length > 30,
        10_000,
        "media on the restarted subscriber"
      )
    } finally {
      await restarting.leave()
    }
  })

  it("during a join", { timeout: 60_000 }, async () => {
    const joined = await duringStorm(() => TestClient.join(server.baseUrl, room, { subscribe: { video: 1 } }))
    try {
      await joined.connected()
      await waitFor(
        () => joined.packetsOn(joined.slotMids[0]!).length > 30,
        10_000,
        "media on the new subscriber"
      )
    } finally {
      await joined.leave()
    }
    const view = (await (await fetch(roomUrl())).json()) as { participants: ReadonlyArray<unknown> }
    expect(view.participants).toHaveLength(2)
  })
})
