import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { RoomView } from "../../src/room/room-view.ts"
import { type ArrivalLog, summarize } from "../support/arrival-log.ts"
import { LoopStalls } from "../support/loop-stalls.ts"
import { waitUntil } from "../support/polling.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { TestClient } from "../support/werift-client.ts"
import {
  onPairOfCurrentGeneration,
  restartWeriftIce,
  restartWithoutFollowing,
  rtcpArrivals,
  rtpArrivals
} from "../support/werift-ice-restart.ts"

/**
 * ICE restarts from werift clients resume media within a second; a restart the client does
 * not follow through (it stays on its old pair with its old credentials, as libwebrtc may)
 * does not stop the server sending to it; a restart with a stale ETag changes nothing.
 *
 * What is measured is the largest silence on the client's own clock (`performance.now()` in
 * its receive callbacks) from just before the restart's offer is made until media has flowed
 * again for a while: RTP on the subscriber's slot (the publisher sends 30 frames of 3 packets
 * a second), or the server's RTCP to a publisher (transport-wide feedback every 50 ms). The
 * server and the clients share this process's event loop, so the time that loop was frozen
 * (a loaded machine) is left out of each silence.
 */

const RESUME_MS = 1_000

describe("ICE restart with werift clients", () => {
  let server: RunningServer
  let stalls: LoopStalls
  beforeAll(async () => {
    server = await startServer()
    stalls = LoopStalls.start()
  })
  afterAll(async () => {
    stalls?.stop()
    await server?.close()
  })

  const joinRoom = async (name: string) => {
    const publisher = await TestClient.join(server.baseUrl, name, { publish: { video: true }, tag: 7 })
    const subscriber = await TestClient.join(server.baseUrl, name, { subscribe: { video: 1 } })
    const media = rtpArrivals(subscriber)
    const publisherRtcp = rtcpArrivals(publisher)
    await Promise.all([publisher.connected(20_000), subscriber.connected(20_000)]).catch(async (error) => {
      const states = [publisher, subscriber].map((c) => `${c.pc.iceConnectionState}/${c.pc.connectionState}`)
      const view = await (await fetch(`${server.baseUrl}/api/v1/rooms/${name}`)).text()
      throw new Error(`${String(error)} (clients ${states.join(", ")}; room ${view})`)
    })
    publisher.startPublishing()
    if (!(await waitUntil(() => media.count >= 30 && publisherRtcp.count >= 10, 10_000))) {
      throw new Error(`no media before the restarts: ${media.count} RTP, ${publisherRtcp.count} RTCP`)
    }
    return { publisher, subscriber, media, publisherRtcp }
  }

  /** The largest silence from `from` until `arrivals` more came (or `timeoutMs` passed). */
  const gapUntilFlowing = async (log: ArrivalLog, from: number, arrivals: number, timeoutMs = 3_000) => {
    await waitUntil(() => log.countSince(from) >= arrivals, timeoutMs)
    return log.largestGap(from, performance.now(), stalls)
  }

  /** A full restart: the client ends up on a pair of its new generation, and media flows. */
  const restartAndResume = async (client: TestClient, log: ArrivalLog, arrivals: number) => {
    const from = performance.now()
    await restartWeriftIce(client)
    expect(await waitUntil(() => onPairOfCurrentGeneration(client), 3_000)).toBe(true)
    return gapUntilFlowing(log, from, arrivals)
  }

  it("a subscriber that stays on its old pair with its old credentials after a restart keeps receiving", async () => {
    const { publisher, subscriber, media } = await joinRoom("resume-stale-subscriber")
    try {
      const gaps: number[] = []
      for (let i = 0; i < 3; i++) {
        const from = performance.now()
        const result = await restartWithoutFollowing(subscriber)
        expect(result.status).toBe(200)
        subscriber.etag = result.etag
        gaps.push(await gapUntilFlowing(media, from, 60))
      }
      console.log(`stale-pair subscriber: largest gap per restart ${summarize(gaps)}`)
      expect(Math.max(...gaps)).toBeLessThan(RESUME_MS)
    } finally {
      await Promise.all([publisher.close(), subscriber.close()])
    }
  })

  it("after restarts it did not follow through, a client's next restart moves it to the new generation", async () => {
    const { publisher, subscriber, media } = await joinRoom("resume-after-stale")
    try {
      // The server has gone through three generations the client never saw.
      for (let i = 0; i < 3; i++) {
        const result = await restartWithoutFollowing(subscriber)
        expect(result.status).toBe(200)
        subscriber.etag = result.etag
      }
      const gaps: number[] = []
      for (let i = 0; i < 2; i++) gaps.push(await restartAndResume(subscriber, media, 30))
      console.log(`restarts after stale ones: largest gap ${summarize(gaps)}`)
      expect(Math.max(...gaps)).toBeLessThan(RESUME_MS)
    } finally {
      await Promise.all([publisher.close(), subscriber.close()])
    }
  })

  it("a publisher that stays on its old pair with its old credentials after a restart keeps getting the server's RTCP", async () => {
    const { publisher, subscriber, media, publisherRtcp } = await joinRoom("resume-stale-publisher")
    try {
      const gaps: number[] = []
      for (let i = 0; i < 3; i++) {
        const from = performance.now()
        const result = await restartWithoutFollowing(publisher)
        expect(result.status).toBe(200)
        publisher.etag = result.etag
        gaps.push(await gapUntilFlowing(publisherRtcp, from, 15))
        expect(media.largestGap(from, performance.now(), stalls)).toBeLessThan(RESUME_MS)
      }
      console.log(`stale-pair publisher: largest RTCP gap per restart ${summarize(gaps)}`)
      expect(Math.max(...gaps)).toBeLessThan(RESUME_MS)
    } finally {
      await Promise.all([publisher.close(), subscriber.close()])
    }
  })

  it("a werift subscriber restarts ICE repeatedly and its slot resumes each time", async () => {
    const { publisher, subscriber, media } = await joinRoom("resume-werift-subscriber")
    try {
      const gaps: number[] = []
      for (let i = 0; i < 5; i++) gaps.push(await restartAndResume(subscriber, media, 30))
      console.log(`werift subscriber: largest gap per restart ${summarize(gaps)}`)
      expect(Math.max(...gaps)).toBeLessThan(RESUME_MS)
    } finally {
      await Promise.all([publisher.close(), subscriber.close()])
    }
  })

  it("a werift publisher restarts ICE repeatedly and its subscriber's media resumes each time", async () => {
    const { publisher, subscriber, media, publisherRtcp } = await joinRoom("resume-werift-publisher")
    try {
      const gaps: number[] = []
      const rtcpGaps: number[] = []
      for (let i = 0; i < 5; i++) {
        const from = performance.now()
        gaps.push(await restartAndResume(publisher, media, 30))
        rtcpGaps.push(await gapUntilFlowing(publisherRtcp, from, 10))
      }
      console.log(`werift publisher: subscriber's largest gap per restart ${summarize(gaps)}`)
      console.log(`werift publisher: its largest RTCP gap per restart ${summarize(rtcpGaps)}`)
      expect(Math.max(...gaps)).toBeLessThan(RESUME_MS)
      expect(Math.max(...rtcpGaps)).toBeLessThan(RESUME_MS)
    } finally {
      await Promise.all([publisher.close(), subscriber.close()])
    }
  })

  it("a restart offer with a stale If-Match gets 412 and leaves the session as it was", async () => {
    const name = "resume-stale-etag"
    const { publisher, subscriber, media } = await joinRoom(name)
    try {
      const first = subscriber.etag
      expect(await restartAndResume(subscriber, media, 30)).toBeLessThan(RESUME_MS)
      const current = subscriber.etag
      expect(current).not.toBe(first)

      const from = performance.now()
      const stale = await restartWithoutFollowing(subscriber, first)
      expect(stale.status).toBe(412)
      expect(JSON.parse(stale.body)).toMatchObject({ error: { code: "etag_mismatch" } })
      // Media goes on, the client stays where it was, and nobody left or joined.
      expect(await gapUntilFlowing(media, from, 60)).toBeLessThan(RESUME_MS)
      expect(onPairOfCurrentGeneration(subscriber)).toBe(true)
      const view = (await (await fetch(`${server.baseUrl}/api/v1/rooms/${name}`)).json()) as RoomView
      expect(view.participants.map((p) => [p.id, p.state]).sort()).toEqual(
        [publisher, subscriber].map((c) => [c.location.split("/").at(-1), "connected"]).sort()
      )
      // The ETag the server gave last still restarts the session.
      expect(subscriber.etag).toBe(current)
      expect(await restartAndResume(subscriber, media, 30)).toBeLessThan(RESUME_MS)
      expect(subscriber.etag).not.toBe(current)
    } finally {
      await Promise.all([publisher.close(), subscriber.close()])
    }
  })
})
