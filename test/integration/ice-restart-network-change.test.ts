import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ArrivalLog, summarize } from "../support/arrival-log.ts"
import { LoopStalls } from "../support/loop-stalls.ts"
import { waitUntil, waitUntilAsync } from "../support/polling.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { UdpRelay } from "../support/udp-relay.ts"
import { SyntheticCamera, waitForConnected, wrtc } from "../support/wrtc-client.ts"
import { restartablePeerConnection } from "../support/wrtc-ice-restart.ts"
import {
  frameArrivals,
  onEarlierPair,
  vp8PayloadType,
  WrtcSession,
  withLowestPriority
} from "../support/wrtc-session.ts"

/**
 * A network change: a client's address and port, as the server sees them, change at once and
 * the old ones are gone (a relay on loopback moves the client to fresh sockets and closes the
 * old ones). Then the client restarts ICE, and the server's video must reach the subscriber
 * again within a second of the restart's answer being applied: measured as the longest
 * silence in the server's VP8 RTP toward the subscriber (timed as the subscriber's relay
 * forwards each packet) from the answer until 30 more packets came, leaving out the time this
 * process's event loop (the server's, the relay's) was frozen. The outage since the change,
 * and the silence between decoded frames at the subscriber, are reported too.
 */

const RESUME_MS = 1_000
/**
 * The decoded video may take longer: packets lost in the outage that the server does not
 * resend (its retransmission budget is a quarter of the estimate) leave the decoder waiting
 * for a keyframe, which libwebrtc asks for after 3 s without a decodable frame.
 */
const DECODE_RESUME_MS = 5_000

interface Figures {
  /** Silence in the server's RTP to the subscriber after the answer was applied. */
  readonly rtpAfterAnswerMs: number
  /** Silence in that RTP since the network changed. */
  readonly rtpOutageMs: number
  /** Silence between decoded frames after the answer was applied. */
  readonly framesAfterAnswerMs: number
}

describe("ICE restart after a network change", () => {
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

  interface Room {
    readonly publisher: WrtcSession
    readonly subscriber: WrtcSession
    /** The relay of the client whose network changes. */
    readonly changing: UdpRelay
    /** The server's VP8 RTP toward the subscriber, and the frames it decoded. */
    readonly rtp: ArrivalLog
    readonly frames: ArrivalLog
  }

  /**
   * A publisher and a subscriber, the subscriber always behind a relay (which notes the
   * server's RTP toward it), the publisher behind one of its own if it is the one moving.
   */
  const withRoom = async (
    name: string,
    moving: "publisher" | "subscriber",
    body: (room: Room) => Promise<void>
  ) => {
    const subscriberRelay = await UdpRelay.open()
    const publisherRelay = moving === "publisher" ? await UdpRelay.open() : undefined
    const camera = new SyntheticCamera(160, 120, 30)
    const publisherPc = restartablePeerConnection()
    const subscriberPc = restartablePeerConnection()
    let stopSink: () => void = () => undefined
    try {
      publisherPc.addTransceiver(camera.track, {
        direction: "sendonly",
        streams: [new wrtc.MediaStream([camera.track])]
      })
      camera.start()
      const publisher = await WrtcSession.join(
        publisherPc,
        server.baseUrl,
        name,
        publisherRelay ? { rewriteAnswer: publisherRelay.rewriteAnswer } : {}
      )
      const slot = subscriberPc.addTransceiver("video", { direction: "recvonly" })
      const subscriber = await WrtcSession.join(subscriberPc, server.baseUrl, name, {
        rewriteAnswer: subscriberRelay.rewriteAnswer
      })
      const rtp = subscriberRelay.rtpToClient(vp8PayloadType(subscriber.answer))
      const sink = frameArrivals(slot.receiver.track)
      stopSink = sink.stop
      await Promise.all([waitForConnected(publisherPc), waitForConnected(subscriberPc)])
      expect(await waitUntil(() => sink.frames.count >= 30, 15_000)).toBe(true)
      await body({
        publisher,
        subscriber,
        changing: publisherRelay ?? subscriberRelay,
        rtp,
        frames: sink.frames
      })
    } finally {
      stopSink()
      camera.stop()
      publisherPc.close()
      subscriberPc.close()
      subscriberRelay.close()
      publisherRelay?.close()
    }
  }

  const networkChanges = (name: string, moving: "publisher" | "subscriber") =>
    withRoom(name, moving, async ({ publisher, subscriber, changing, rtp, frames }) => {
      const client = moving === "publisher" ? publisher : subscriber
      const figures: Figures[] = []
      for (let i = 0; i < 4; i++) {
        const changedAt = performance.now()
        changing.changeNetwork()
        // The last two times the client notices late: the server's RTP has stopped before it restarts.
        if (i >= 2) await waitUntil(() => rtp.largestGap(changedAt, performance.now()) >= 300, 2_000)
        const { answeredAt } = await client.restart({ sendCandidates: i % 2 === 0 })
        await waitUntil(() => rtp.countSince(answeredAt) >= 30, 3_000)
        const rtpAt = performance.now()
        await waitUntil(() => frames.countSince(answeredAt) >= 15, DECODE_RESUME_MS)
        figures.push({
          rtpAfterAnswerMs: rtp.largestGap(answeredAt, rtpAt, stalls),
          rtpOutageMs: rtp.largestGap(changedAt, rtpAt, stalls),
          framesAfterAnswerMs: frames.largestGap(answeredAt, performance.now(), stalls)
        })
      }
      console.log(
        `network change of the ${moving}: RTP silence after the answer ${summarize(figures.map((f) => f.rtpAfterAnswerMs))}; ` +
          `since the change ${summarize(figures.map((f) => f.rtpOutageMs))}; ` +
          `frames after the answer ${summarize(figures.map((f) => f.framesAfterAnswerMs))}`
      )
      expect(Math.max(...figures.map((f) => f.rtpAfterAnswerMs))).toBeLessThan(RESUME_MS)
      expect(Math.max(...figures.map((f) => f.framesAfterAnswerMs))).toBeLessThan(DECODE_RESUME_MS)
    })

  it(
    "a subscriber whose address and port change restarts ICE and the server's video reaches it within a second",
    () => networkChanges("network-change-subscriber", "subscriber"),
    60_000
  )

  it(
    "a publisher whose address and port change restarts ICE and its video reaches the subscriber within a second",
    () => networkChanges("network-change-publisher", "publisher"),
    60_000
  )

  it(
    "a subscriber that stayed on its old pair after a restart gets video again when its address changes",
    () =>
      withRoom("network-change-old-pair", "subscriber", async ({ subscriber, changing, rtp }) => {
        // libwebrtc keeps its old pair when the new one ranks lower; nothing forces it, so up to three tries.
        let stayed = false
        for (let i = 0; i < 3 && !stayed; i++) {
          const { known } = await subscriber.pairs()
          await subscriber.restart({ sendCandidates: false, rewriteAnswer: withLowestPriority })
          const moved = await waitUntilAsync(
            () => onEarlierPair(subscriber, known),
            (on) => !on,
            1_000
          )
          stayed = !moved
        }
        expect(stayed).toBe(true)
        const changedAt = performance.now()
        changing.changeNetwork()
        // No restart this time: the server learns the new address from the client's next check
        // on its pair (libwebrtc checks a settled pair every 2.5 s), made with the old ufrag.
        await waitUntil(() => rtp.countSince(changedAt) >= 30, 8_000)
        const outage = rtp.largestGap(changedAt, performance.now(), stalls)
        console.log(`old pair, address changed: RTP outage ${Math.round(outage)}ms`)
        expect(outage).toBeLessThan(4_000)
      }),
    60_000
  )
})
