import { Effect, Exit, Layer, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  RTCRtpCodecParameters,
  useAbsSendTime,
  useNACK,
  usePLI,
  useSdesMid,
  useTransportWideCC,
  useTWCC,
  RTCPeerConnection as WeriftPeerConnection
} from "werift"
import { PrismConfig } from "../../src/config.ts"
import { transportCounters } from "../../src/observability/transport-counters.ts"
import {
  type CongestionFeedback,
  type PacketResult,
  type Peer,
  type PeerHandlers,
  Transport
} from "../../src/transport/transport.ts"
import { WeriftTransport } from "../../src/transport/werift/werift-transport.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { waitFor } from "../support/werift-client.ts"
import {
  joinRoom,
  SyntheticCamera,
  type WrtcPeerConnection,
  waitForConnected,
  wrtc
} from "../support/wrtc-client.ts"

/**
 * Transport-wide congestion control against real clients on loopback: libwebrtc's feedback
 * reaches the seam, libwebrtc accepts ours, and malformed RTCP is dropped and counted.
 */

interface Connected {
  readonly peer: Peer
  readonly feedback: CongestionFeedback[]
  readonly close: () => Promise<void>
}

/** A server-side peer through the production `WeriftTransport`, recording what reaches the seam. */
const connectAtSeam = async (offer: string): Promise<Connected> => {
  const config = PrismConfig.layerWith({ udpPortMin: 46000, udpPortMax: 46999 })
  const scope = Effect.runSync(Scope.make())
  const peer = await Effect.runPromise(
    Effect.gen(function* () {
      const transport = yield* Transport
      return yield* transport.connect({ offer, room: "twcc", participantId: "p" })
    }).pipe(Scope.provide(scope), Effect.provide(WeriftTransport.pipe(Layer.provide(config))))
  )
  const feedback: CongestionFeedback[] = []
  const handlers: PeerHandlers = {
    onRtp: () => undefined,
    onKeyframeRequest: () => undefined,
    onNack: () => undefined,
    onStateChange: () => undefined,
    onCongestionFeedback: (f) => feedback.push(f),
    onDataChannelOpen: () => undefined,
    onDataMessage: () => undefined
  }
  peer.attach(handlers)
  return { peer, feedback, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const gatheredOffer = async (pc: WrtcPeerConnection): Promise<string> => {
  await pc.setLocalDescription(await pc.createOffer())
  await waitFor(() => pc.iceGatheringState === "complete", 2_000, "ICE gathering").catch(() => undefined)
  return pc.localDescription!.sdp
}

/** A VP8 payload descriptor and a little body: enough for libwebrtc to take it as video. */
const vp8Payload = (frame: number, first: boolean, size: number) => {
  const payload = new Uint8Array(size)
  payload[0] = first ? 0x10 : 0x00
  payload[1] = 0x01
  payload[2] = frame & 0xff
  return payload
}

const packetsOf = (feedback: CongestionFeedback[]): PacketResult[] =>
  feedback.flatMap((f) => (f._tag === "TransportFeedback" ? f.packets : []))

describe("transport-wide congestion control with real clients", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer({ udpPortMin: 47000, udpPortMax: 47999 })
  })
  afterAll(async () => {
    await server?.close()
  })

  it("a libwebrtc subscriber's transport feedback reaches the seam as plausible packet results", {
    timeout: 30_000
  }, async () => {
    const subscriber = new wrtc.RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers: [] })
    subscriber.addTransceiver("video", { direction: "recvonly" })
    subscriber.addTransceiver("audio", { direction: "recvonly" })
    const offer = await gatheredOffer(subscriber)
    const connected = await connectAtSeam(offer)
    const timer: { id?: NodeJS.Timeout } = {}
    try {
      const { peer, feedback } = connected
      expect(peer.answer).toContain("transport-wide-cc")
      expect(peer.answer).toMatch(/a=rtcp-fb:\d+ transport-cc/)
      await subscriber.setRemoteDescription({ type: "answer", sdp: peer.answer })
      await waitForConnected(subscriber)
      const video = peer.slots.find((s) => s.kind === "video")!
      const audio = peer.slots.find((s) => s.kind === "audio")!
      const codec = video.codecs[0]!
      let sequenceNumber = 100
      let frame = 0
      const sendTimes: number[] = []
      timer.id = setInterval(() => {
        frame++
        for (let part = 0; part < 4; part++) {
          peer.sendRtp(video.mid, codec, {
            sequenceNumber: sequenceNumber++ & 0xffff,
            timestamp: frame * 3000,
            marker: part === 3,
            payload: vp8Payload(frame, part === 0, 900),
            audioLevel: undefined
          })
        }
        sendTimes.push(Date.now())
      }, 33)

      await waitFor(() => packetsOf(feedback).length >= 200, 10_000, "200 packet results")
      // Probe padding goes on the video slot's RTX stream; audio has no RTX to carry it.
      expect(peer.sendPadding(audio.mid, 5_000)).toBe(0)
      const probeBytes = peer.sendPadding(video.mid, 5_000)
      expect(probeBytes).toBeGreaterThan(4_000)
      expect(probeBytes).toBeLessThanOrEqual(5_000)
      await waitFor(
        () => packetsOf(feedback).some((p) => p.probe && p.arrivalTimeMs !== undefined),
        5_000,
        "feedback on probe padding"
      )
      await waitFor(
        () => feedback.some((f) => f._tag === "ReceiverReport" && f.rttMs !== undefined),
        8_000,
        "a receiver report with a round-trip time"
      )

      const results = packetsOf(feedback)
      const media = results.filter((p) => !p.probe)
      const received = media.filter((p) => p.arrivalTimeMs !== undefined)
      // Loopback loses (almost) nothing, and every report is about a packet we sent.
      expect(received.length / media.length).toBeGreaterThan(0.95)
      for (const p of media) expect(p.sizeBytes).toBeGreaterThan(900)
      const probes = results.filter((p) => p.probe)
      expect(probes.reduce((sum, p) => sum + p.sizeBytes, 0)).toBeLessThanOrEqual(probeBytes)
      // One-way delay on loopback: the same offset for every packet, give or take scheduling.
      const offsets = received.map((p) => p.arrivalTimeMs! - p.sendTimeMs).sort((a, b) => a - b)
      const median = offsets[Math.floor(offsets.length / 2)]!
      const spread = offsets[Math.floor(offsets.length * 0.95)]! - offsets[Math.floor(offsets.length * 0.05)]!
      expect(spread).toBeLessThan(50)
      expect(Number.isFinite(median)).toBe(true)
      // Arrival order follows send order.
      const inSendOrder = [...received].sort((a, b) => a.sendTimeMs - b.sendTimeMs)
      let backwards = 0
      for (let i = 1; i < inSendOrder.length; i++) {
        if (inSendOrder[i]!.arrivalTimeMs! < inSendOrder[i - 1]!.arrivalTimeMs! - 1) backwards++
      }
      expect(backwards).toBe(0)
      const reports = feedback.filter((f) => f._tag === "ReceiverReport")
      for (const report of reports) {
        expect(report.fractionLost).toBeGreaterThanOrEqual(0)
        expect(report.fractionLost).toBeLessThan(1)
        if (report.rttMs !== undefined) expect(report.rttMs).toBeLessThan(200)
      }
      console.log(
        `subscriber feedback: ${media.length} media results (${received.length} received), ` +
          `${probes.length} probe results, one-way offset spread ${spread.toFixed(2)} ms, ` +
          `${reports.length} receiver reports, rtt ${reports.map((r) => r.rttMs?.toFixed(1)).join(" ")}`
      )
    } finally {
      clearInterval(timer.id)
      subscriber.close()
      await connected.close()
    }
  })

  it("a libwebrtc publisher accepts the server's feedback: its outgoing estimate rises", {
    timeout: 60_000
  }, async () => {
    const camera = new SyntheticCamera(640, 480, 30)
    const publisher = new wrtc.RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers: [] })
    const sentBefore = transportCounters.feedbackSent
    try {
      publisher.addTransceiver(camera.track, {
        direction: "sendonly",
        streams: [new wrtc.MediaStream([camera.track])]
      })
      camera.start()
      const { answer } = await joinRoom(publisher, server.baseUrl, "twcc-uplink")
      expect(answer).toMatch(/a=rtcp-fb:\d+ transport-cc/)
      await waitForConnected(publisher)
      // The selected pair's: the first candidate pair in the stats may be another interface's.
      const estimate = async () => {
        const entries: Array<Record<string, unknown>> = []
        ;(await publisher.getStats()).forEach((value) => {
          entries.push(value)
        })
        const selected = entries.find((e) => e["type"] === "transport")?.["selectedCandidatePairId"]
        const pair = entries.find((e) => e["type"] === "candidate-pair" && e["id"] === selected)
        return Number(pair?.["availableOutgoingBitrate"] ?? 0)
      }
      const samples: number[] = []
      const sample = async () => {
        await new Promise((resolve) => setTimeout(resolve, 500))
        samples.push(await estimate())
      }
      // libwebrtc starts at 300 kbit/s; without working feedback it stays there or falls. With
      // it, its first probes usually lift it past 3 Mbit/s at once; when they land while this
      // process's event loop is held up (another test file busy on the same cores), the server
      // stamps their arrival late, the probe reads as slow, and the estimate climbs by its
      // additive increase instead: up to 20 s to pass 900 kbit/s.
      const deadline = Date.now() + 20_000
      while ((samples.at(-1) ?? 0) <= 900_000 && Date.now() < deadline) await sample()
      // Then a broken feedback loop would pull it back down within a few seconds.
      for (let i = 0; i < 6; i++) await sample()
      console.log(`publisher availableOutgoingBitrate (bps): ${samples.join(" ")}`)
      expect(transportCounters.feedbackSent).toBeGreaterThan(sentBefore + 20)
      expect(Math.max(...samples)).toBeGreaterThan(900_000)
      expect(samples.at(-1)!).toBeGreaterThan(600_000)
    } finally {
      camera.stop()
      publisher.close()
    }
  })

  it("drops and counts malformed transport feedback and RTCP from a client, and keeps reading", {
    timeout: 30_000
  }, async () => {
    const client = new WeriftPeerConnection({
      bundlePolicy: "max-bundle",
      codecs: {
        video: [
          new RTCRtpCodecParameters({
            mimeType: "video/VP8",
            clockRate: 90000,
            payloadType: 96,
            rtcpFeedback: [useNACK(), usePLI(), useTWCC()]
          })
        ]
      },
      headerExtensions: { video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()] },
      iceUseIpv6: false,
      iceStunGatherTimeout: 1
    })
    client.addTransceiver("video", { direction: "recvonly" })
    await client.setLocalDescription(await client.createOffer())
    const connected = await connectAtSeam(client.localDescription!.sdp)
    try {
      await client.setRemoteDescription({ type: "answer", sdp: connected.peer.answer })
      await waitFor(() => client.connectionState === "connected", 10_000, "werift client to connect")
      const dtls = client.getTransceivers()[0]!.sender.dtlsTransport
      const raw = (bytes: number[]) => ({ serialize: () => Buffer.from(bytes) })
      const before = transportCounters.rtcpMalformed
      // Each with the number of malformed packets it holds.
      const malformed: Array<[number[], number]> = [
        // werift-style TWCC: 33 bytes while the length field says 32 (and no status), so the
        // packet and the byte after it are both malformed.
        [[0x8f, 205, 0, 7, ...new Array(29).fill(0)], 2],
        // TWCC whose status chunks claim more packets than the bytes hold.
        [[0x8f, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0xff, 0xff, 0, 0, 0, 0], 1],
        // A receiver report claiming two blocks with room for none.
        [[0x82, 201, 0, 1, 0, 0, 0, 1], 1],
        // A REMB with more SSRCs than it carries.
        [[0x8f, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0x52, 0x45, 0x4d, 0x42, 9, 0, 0, 1], 1],
        // A length field running past the end of the compound.
        [[0x80, 201, 0, 40, 0, 0, 0, 1], 1]
      ]
      for (const [bytes] of malformed) await dtls.sendRtcp([raw(bytes) as never])
      // Then a valid REMB (1 Mbit/s = 250000 << 2): the reader is still there.
      await dtls.sendRtcp([
        raw([
          0x8f, 206, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0, 0x52, 0x45, 0x4d, 0x42, 1, 0x0b, 0xd0, 0x90, 0, 0, 0, 7
        ]) as never
      ])
      await waitFor(() => connected.feedback.some((f) => f._tag === "Remb"), 5_000, "the valid REMB")
      expect(transportCounters.rtcpMalformed - before).toBe(malformed.reduce((sum, [, n]) => sum + n, 0))
      expect(connected.feedback.find((f) => f._tag === "Remb")).toMatchObject({ bitrateBps: 1_000_000 })
      expect(connected.feedback.some((f) => f._tag === "TransportFeedback")).toBe(false)
    } finally {
      await client.close()
      await connected.close()
    }
  })
})
