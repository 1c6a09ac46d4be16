import { createSocket, type Socket } from "node:dgram"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { classes, Message, methods } from "werift"
import { ingressDropped } from "../../src/transport/werift/ingress-guard.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { waitFor } from "../support/werift-client.ts"
import { findStats, joinRoom, SyntheticCamera, waitForConnected, wrtc } from "../support/wrtc-client.ts"
import {
  type IceRestartResult,
  type RestartablePeerConnection,
  restartablePeerConnection,
  restartIceThroughPatch,
  selectedSocketTraffic,
  WrtcControlChannel
} from "../support/wrtc-ice-restart.ts"

/**
 * A client that restarts ICE (new credentials and candidates, sent with PATCH) must get
 * everything the server sends on the candidate pair it selected in the new generation: slot
 * media, and SCTP both ways. libwebrtc's candidate-pair stats count only what is not STUN, so
 * bytes received there are media, RTCP, DTLS or SCTP the server sent to that pair.
 */

const framesDecoded = async (pc: RestartablePeerConnection): Promise<number> =>
  Number((await findStats(pc, "inbound-rtp", "video"))?.["framesDecoded"] ?? 0)

/** Polls an async reading until `accept` holds; returns that reading. */
const pollUntil = async <T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs: number,
  what: string
): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (accept(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const moreFramesDecoded = async (subscriber: RestartablePeerConnection, frames: number, after: string) => {
  const from = await framesDecoded(subscriber)
  await pollUntil(
    () => framesDecoded(subscriber),
    (n) => n >= from + frames,
    15_000,
    `${frames} frames decoded ${after}`
  )
}

/** `hello` goes up the control channel and comes back as `roster-diff`: SCTP works both ways. */
const controlRoundTrip = async (control: WrtcControlChannel, name: string) => {
  control.send({ type: "hello", name })
  await waitFor(
    () =>
      control.has(
        (m) =>
          m["type"] === "roster-diff" &&
          Array.isArray(m["updated"]) &&
          (m["updated"] as Array<Record<string, unknown>>).some((p) => p["name"] === name)
      ),
    10_000,
    `the server's roster-diff for "${name}"`
  )
}

interface Session {
  readonly pc: RestartablePeerConnection
  readonly control: WrtcControlChannel
  readonly url: string
  etag: string
}

/** Restarts `session` and waits until libwebrtc has selected a pair of the new generation. */
const restart = async (session: Session, sendCandidates: boolean): Promise<IceRestartResult> => {
  const old = await selectedSocketTraffic(session.pc)
  const result = await restartIceThroughPatch(session.pc, session.url, session.etag, { sendCandidates })
  expect(result.answerUfrag).not.toBe("")
  expect(result.answerUfrag).not.toBe(result.offerUfrag)
  session.etag = result.etag
  await pollUntil(
    () => selectedSocketTraffic(session.pc),
    (now) => now.selected !== undefined && !old.pairIds.has(now.selected),
    10_000,
    "a candidate pair of the new ICE generation to be selected"
  )
  return result
}

/**
 * Waits until at least `received` and `sent` more bytes went through the client's socket of
 * its selected pair (measured afresh if libwebrtc moves to another socket meanwhile).
 */
const flowsOnSelectedPair = async (
  pc: RestartablePeerConnection,
  bytes: { readonly received: number; readonly sent: number },
  what: string
) => {
  let baseline = await selectedSocketTraffic(pc)
  await pollUntil(
    () => selectedSocketTraffic(pc),
    (now) => {
      if (now.socket !== baseline.socket) baseline = now
      return now.received - baseline.received >= bytes.received && now.sent - baseline.sent >= bytes.sent
    },
    10_000,
    what
  )
}

/** The server's ICE credentials and media address, as an answer advertises them. */
const serverIce = (answer: string) => {
  const candidate = /a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host/.exec(answer)!
  return {
    ufrag: /a=ice-ufrag:(\S+)/.exec(answer)![1]!,
    password: /a=ice-pwd:(\S+)/.exec(answer)![1]!,
    host: candidate[1]!,
    port: Number(candidate[2])
  }
}

/** A connectivity check signed with the server's credentials; resolves once it is answered. */
const proveAddress = (socket: Socket, ice: ReturnType<typeof serverIce>): Promise<void> =>
  new Promise((resolve, reject) => {
    const request = new Message(methods.BINDING, classes.REQUEST)
      .setAttribute("USERNAME", `${ice.ufrag}:prober`)
      .setAttribute("PRIORITY", 1_000)
      .setAttribute("ICE-CONTROLLING", 1n)
      .addMessageIntegrity(Buffer.from(ice.password, "utf8"))
      .addFingerprint()
    const timer = setTimeout(() => {
      socket.off("message", onMessage)
      reject(new Error("the server did not answer the check"))
    }, 3_000)
    const onMessage = (data: Buffer) => {
      if (data.length < 20 || !data.subarray(8, 20).equals(request.transactionId)) return
      clearTimeout(timer)
      socket.off("message", onMessage)
      resolve()
    }
    socket.on("message", onMessage)
    socket.send(request.bytes, ice.port, ice.host)
  })

/** A plaintext DTLS close_notify alert: werift ends the session on any alert that reaches it. */
const DTLS_ALERT = Buffer.from([21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 99, 0, 2, 1, 0])
/** Looks like SRTP; werift fails to authenticate it and drops it, harmlessly. */
const FAKE_SRTP = Buffer.concat([Buffer.from([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 42]), Buffer.alloc(40, 7)])

const sendAndSettle = async (socket: Socket, datagram: Buffer, ice: ReturnType<typeof serverIce>) => {
  socket.send(datagram, ice.port, ice.host)
  await new Promise((resolve) => setTimeout(resolve, 200))
}

describe("ICE restart with a libwebrtc client", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.close()
  })

  const scenario = async (room: string, sendCandidates: boolean) => {
    const camera = new SyntheticCamera(320, 240, 30)
    const publisherPc = restartablePeerConnection()
    const subscriberPc = restartablePeerConnection()
    let sink: { stop(): void } | undefined
    try {
      const publisherControl = new WrtcControlChannel(publisherPc)
      publisherPc.addTransceiver(camera.track, {
        direction: "sendonly",
        streams: [new wrtc.MediaStream([camera.track])]
      })
      camera.start()
      const published = await joinRoom(publisherPc, server.baseUrl, room)
      const publisher: Session = {
        pc: publisherPc,
        control: publisherControl,
        url: `${server.baseUrl}${published.location}`,
        etag: published.etag
      }

      const subscriberControl = new WrtcControlChannel(subscriberPc)
      const slot = subscriberPc.addTransceiver("video", { direction: "recvonly" })
      const subscribed = await joinRoom(subscriberPc, server.baseUrl, room)
      const subscriber: Session = {
        pc: subscriberPc,
        control: subscriberControl,
        url: `${server.baseUrl}${subscribed.location}`,
        etag: subscribed.etag
      }
      let framesAtSink = 0
      const videoSink = new wrtc.nonstandard.RTCVideoSink(slot.receiver.track)
      sink = videoSink
      videoSink.onframe = () => {
        framesAtSink++
      }
      await Promise.all([waitForConnected(publisherPc), waitForConnected(subscriberPc)])
      await waitFor(
        () => subscriberControl.has((m) => m["type"] === "welcome"),
        10_000,
        "welcome (subscriber)"
      )
      await waitFor(() => publisherControl.has((m) => m["type"] === "welcome"), 10_000, "welcome (publisher)")
      await moreFramesDecoded(subscriberPc, 10, "before any restart")

      // 1. The subscriber restarts: the server's media and SCTP must follow it to the new pair.
      await restart(subscriber, sendCandidates)
      const sinkAtRestart = framesAtSink
      await moreFramesDecoded(subscriberPc, 30, "after the subscriber's restart")
      expect(framesAtSink).toBeGreaterThanOrEqual(sinkAtRestart + 30)
      await controlRoundTrip(subscriberControl, "subscriber after restart")
      // A second of 320x240 VP8 is tens of kilobytes; the client sends RTCP and SCTP acks.
      await flowsOnSelectedPair(
        subscriberPc,
        { received: 10_000, sent: 100 },
        "the slot's media on the new pair"
      )

      // 2. The publisher restarts: its media keeps reaching the subscriber, and what the
      // server sends it (RTCP, SCTP) arrives on its new pair.
      await restart(publisher, sendCandidates)
      await moreFramesDecoded(subscriberPc, 30, "after the publisher's restart")
      await controlRoundTrip(publisherControl, "publisher after restart")
      // The server's RTCP (receiver reports, NACKs, transport feedback) and SCTP reach it there.
      await flowsOnSelectedPair(
        publisherPc,
        { received: 200, sent: 10_000 },
        "the publisher's traffic on the new pair"
      )

      // 3. A second restart of the same session works as the first did.
      await restart(subscriber, sendCandidates)
      await moreFramesDecoded(subscriberPc, 30, "after the subscriber's second restart")
      await controlRoundTrip(subscriberControl, "subscriber after second restart")
      await flowsOnSelectedPair(
        subscriberPc,
        { received: 10_000, sent: 100 },
        "the slot's media after the second restart"
      )

      // The restarts kept the same two participants, both connected.
      const view = (await (await fetch(`${server.baseUrl}/api/v1/rooms/${room}`)).json()) as {
        participants: Array<{ state: string }>
      }
      expect(view.participants.map((p) => p.state)).toEqual(["connected", "connected"])
    } finally {
      sink?.stop()
      camera.stop()
      publisherPc.close()
      subscriberPc.close()
    }
  }

  it(
    "restart offers without candidates (a browser's mDNS names, or sent before gathering ended)",
    {
      timeout: 90_000
    },
    () => scenario("ice-restart-bare", false)
  )

  it("restart offers with the client's candidates", { timeout: 90_000 }, () =>
    scenario("ice-restart-candidates", true)
  )

  it("the ingress guard admits addresses proven with the new credentials and retires the old ones", {
    timeout: 60_000
  }, async () => {
    const pc = restartablePeerConnection()
    const socket = createSocket("udp4")
    try {
      const control = new WrtcControlChannel(pc)
      pc.addTransceiver("audio", { direction: "recvonly" })
      const joined = await joinRoom(pc, server.baseUrl, "ice-restart-guard")
      const session: Session = { pc, control, url: `${server.baseUrl}${joined.location}`, etag: joined.etag }
      await waitForConnected(pc)
      await waitFor(() => control.has((m) => m["type"] === "welcome"), 10_000, "welcome")
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve))
      const before = serverIce(joined.answer)

      // Proven with the first credentials, the prober's packets reach werift.
      await proveAddress(socket, before)
      let dropped = ingressDropped()
      await sendAndSettle(socket, FAKE_SRTP, before)
      expect(ingressDropped()).toBe(dropped)

      const restarted = await restart(session, false)
      await controlRoundTrip(control, "after the restart")
      const after = serverIce(restarted.answer)
      expect(after.ufrag).not.toBe(before.ufrag)
      expect(after.port).toBe(before.port)

      // Once the client's new pair is nominated, the old proof no longer counts, even renewed:
      // the alert is dropped and the session lives on.
      await proveAddress(socket, before)
      dropped = ingressDropped()
      await sendAndSettle(socket, DTLS_ALERT, before)
      await sendAndSettle(socket, FAKE_SRTP, before)
      expect(ingressDropped()).toBeGreaterThanOrEqual(dropped + 2)
      await controlRoundTrip(control, "after the stale alert")
      expect(pc.connectionState).toBe("connected")

      // A check with the new credentials proves the address again.
      await proveAddress(socket, after)
      dropped = ingressDropped()
      await sendAndSettle(socket, FAKE_SRTP, after)
      expect(ingressDropped()).toBe(dropped)
      await controlRoundTrip(control, "after the new proof")
    } finally {
      socket.close()
      pc.close()
    }
  })
})
