import { afterEach, describe, expect, it } from "vitest"
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from "werift"
import { readOffer } from "../../src/transport/sdp-offer.ts"
import { serverPeerConfig } from "../../src/transport/werift/peer-config.ts"
import { routeSsrcSimulcast } from "../../src/transport/werift/ssrc-simulcast-routing.ts"

/**
 * werift's own router, fed decrypted packets the way its DTLS transport does, after a server
 * peer connection answered an offer whose m-lines signal simulcast with SSRC groups.
 */

const VP8 = 96
const RTX = 97

const clientOffer = async (sections: ReadonlyArray<ReadonlyArray<string>>): Promise<string> => {
  const client = new RTCPeerConnection({
    bundlePolicy: "max-bundle",
    codecs: {
      video: [
        new RTCRtpCodecParameters({ mimeType: "video/VP8", clockRate: 90000, payloadType: VP8 }),
        new RTCRtpCodecParameters({
          mimeType: "video/rtx",
          clockRate: 90000,
          payloadType: RTX,
          parameters: `apt=${VP8}`
        })
      ]
    },
    iceUseIpv6: false,
    iceStunGatherTimeout: 1
  })
  for (const _ of sections) client.addTransceiver("video", { direction: "sendonly" })
  await client.setLocalDescription(await client.createOffer())
  const sdp = client.localDescription!.sdp
  await client.close()
  const parts = sdp.split(/\r\n(?=m=)/)
  return parts
    .map((part, index) => {
      if (index === 0) return part
      const lines = part.split("\r\n").filter((l) => l.length > 0 && !l.startsWith("a=ssrc"))
      return [...lines, ...(sections[index - 1] ?? [])].join("\r\n")
    })
    .join("\r\n")
    .concat("\r\n")
}

const declare = (...ssrcs: number[]) => ssrcs.map((ssrc) => `a=ssrc:${ssrc} cname:c`)

interface Delivered {
  readonly mid: string
  readonly trackSsrc: number | undefined
  readonly ssrc: number
  readonly payloadType: number
  readonly sequenceNumber: number
  readonly payload: string
}

const servers: RTCPeerConnection[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((pc) => pc.close()))
})

/** Answers like the transport does and routes the SIM layers; returns what each track delivers. */
const answer = async (offer: string) => {
  const server = new RTCPeerConnection(
    serverPeerConfig({ announcedIp: "127.0.0.1", udpPortMin: 40_000, udpPortMax: 40_999 })
  )
  servers.push(server)
  const delivered: Delivered[] = []
  const subscribed = new Set<unknown>()
  const negotiate = async (sdp: string) => {
    const checked = readOffer(sdp)
    if (!checked.ok) throw new Error(checked.reason)
    await server.setRemoteDescription({ type: "offer", sdp })
    for (const t of server.getTransceivers()) t.setDirection("recvonly")
    await server.setLocalDescription(await server.createAnswer())
    for (const transceiver of server.getTransceivers()) {
      const offered = checked.summary.media.find((m) => m.mid === transceiver.mid)
      if (offered && offered.ssrcLayers.length > 1)
        routeSsrcSimulcast(server, transceiver, offered.ssrcLayers)
      for (const track of transceiver.receiver.tracks) {
        if (subscribed.has(track)) continue
        subscribed.add(track)
        track.onReceiveRtp.subscribe((rtp) =>
          delivered.push({
            mid: transceiver.mid ?? "",
            trackSsrc: track.ssrc,
            ssrc: rtp.header.ssrc,
            payloadType: rtp.header.payloadType,
            sequenceNumber: rtp.header.sequenceNumber,
            payload: rtp.payload.toString("hex")
          })
        )
      }
    }
  }
  await negotiate(offer)
  const router = (server as unknown as { router: { routeRtp: (packet: RtpPacket) => void } }).router
  const send = (ssrc: number, payloadType: number, sequenceNumber: number, payload: Buffer) =>
    router.routeRtp(
      new RtpPacket(new RtpHeader({ ssrc, payloadType, sequenceNumber, timestamp: 3000 }), payload)
    )
  return { delivered, send, negotiate }
}

const rtxOf = (sequenceNumber: number, payload: Buffer) => {
  const osn = Buffer.alloc(2)
  osn.writeUInt16BE(sequenceNumber)
  return Buffer.concat([osn, payload])
}

describe("routing the layers of an a=ssrc-group:SIM publication through werift", () => {
  const section0 = [
    "a=ssrc-group:FID 10 11",
    "a=ssrc-group:FID 20 21",
    "a=ssrc-group:FID 30 31",
    "a=ssrc-group:SIM 10 20 30",
    ...declare(30, 31, 20, 21, 10, 11)
  ]

  it("delivers every layer on its own track and unwraps each layer's RTX into it, also after a re-offer", async () => {
    const offer = await clientOffer([section0])
    const server = await answer(offer)
    for (const round of [0, 1]) {
      server.delivered.length = 0
      for (const ssrc of [10, 20, 30]) server.send(ssrc, VP8, 100 + round, Buffer.from([ssrc, round]))
      for (const ssrc of [10, 20, 30]) server.send(ssrc + 1, RTX, 7, rtxOf(99, Buffer.from([ssrc, 0xee])))
      expect(server.delivered).toEqual([
        ...[10, 20, 30].map((ssrc) => ({
          mid: "0",
          trackSsrc: ssrc,
          ssrc,
          payloadType: VP8,
          sequenceNumber: 100 + round,
          payload: Buffer.from([ssrc, round]).toString("hex")
        })),
        ...[10, 20, 30].map((ssrc) => ({
          mid: "0",
          trackSsrc: ssrc,
          ssrc,
          payloadType: VP8,
          sequenceNumber: 99,
          payload: Buffer.from([ssrc, 0xee]).toString("hex")
        }))
      ])
      // werift applies the same offer again and forgets the RTX map; routing is restored after it
      await server.negotiate(offer)
    }
  })

  it("leaves an SSRC another m-line owns with that m-line", async () => {
    const section1 = ["a=ssrc-group:SIM 20 50 60", ...declare(50, 20, 60)]
    const server = await answer(await clientOffer([section0, section1]))
    for (const ssrc of [20, 50, 60]) server.send(ssrc, VP8, 1, Buffer.from([ssrc]))
    expect(server.delivered.map((d) => [d.mid, d.ssrc])).toEqual([
      ["0", 20],
      ["1", 50],
      ["1", 60]
    ])
  })
})
