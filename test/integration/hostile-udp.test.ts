import { randomBytes } from "node:crypto"
import { createSocket } from "node:dgram"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { TestClient, waitFor } from "../support/werift-client.ts"

/** The media port the server announced in an SDP answer. */
const mediaPort = (answer: string) => Number(/a=candidate:\S+ 1 udp \d+ \S+ (\d+) typ host/.exec(answer)![1])

/** Datagrams shaped like each protocol on the port (STUN, DTLS, RTP, RTCP) but wrong inside. */
const hostileDatagrams = (): Buffer[] => {
  const out: Buffer[] = []
  for (let i = 0; i < 200; i++) out.push(randomBytes(1 + (i % 300)))
  for (let i = 0; i < 100; i++) {
    const stun = randomBytes(20 + (i % 60))
    stun.writeUInt16BE(0x0001, 0) // Binding request
    stun.writeUInt16BE(stun.length - 20, 2)
    stun.writeUInt32BE(0x2112a442, 4) // magic cookie
    out.push(stun)
  }
  for (let i = 0; i < 100; i++) {
    const dtls = randomBytes(13 + (i % 100))
    dtls[0] = 22 // handshake
    dtls[1] = 0xfe
    dtls[2] = 0xfd
    out.push(dtls)
  }
  for (let i = 0; i < 200; i++) {
    const rtp = randomBytes(12 + (i % 200))
    rtp[0] = 0x80 | (i % 16)
    rtp[1] = i % 2 === 0 ? 96 : 200 + (i % 8) // RTP or RTCP payload types
    out.push(rtp)
  }
  // A plaintext DTLS close_notify alert (epoch 0): werift ends the session on any alert.
  out.push(Buffer.from([21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 99, 0, 2, 1, 0]))
  // A record of a content type DTLS does not define, which werift also treats as an alert.
  out.push(Buffer.from([60, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 7, 0, 1, 0]))
  return out
}

/** A connectivity check with USE-CANDIDATE for the server's real ufrag, signed with a wrong password. */
const forgedCheck = (answer: string): Buffer => {
  const serverUfrag = /a=ice-ufrag:(\S+)/.exec(answer)![1]!
  const username = Buffer.from(`${serverUfrag}:evil`)
  const padded = Buffer.alloc(Math.ceil(username.length / 4) * 4)
  username.copy(padded)
  const attributes = Buffer.concat([
    Buffer.from([0x00, 0x06, 0x00, username.length]),
    padded,
    Buffer.from([0x00, 0x25, 0x00, 0x00]), // USE-CANDIDATE
    Buffer.from([0x00, 0x08, 0x00, 0x14]), // MESSAGE-INTEGRITY over nothing the server would accept
    randomBytes(20)
  ])
  const header = Buffer.alloc(20)
  header.writeUInt16BE(0x0001, 0)
  header.writeUInt16BE(attributes.length, 2)
  header.writeUInt32BE(0x2112a442, 4)
  randomBytes(12).copy(header, 8)
  return Buffer.concat([header, attributes])
}

describe("hostile UDP on the media ports", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server.close()
  })

  it("drops garbage aimed at a live session's port without disturbing its media or the server", async () => {
    const pub = await TestClient.join(server.baseUrl, "hostile", { publish: { video: true }, tag: 4 })
    const sub = await TestClient.join(server.baseUrl, "hostile", { subscribe: { video: 1 } })
    const socket = createSocket("udp4")
    try {
      await Promise.all([pub.connected(), sub.connected()])
      pub.startPublishing()
      const mid = sub.slotMids[0]!
      await waitFor(() => sub.packetsOn(mid).length > 20, 10_000, "media before the attack")
      for (const port of [mediaPort(pub.answer), mediaPort(sub.answer)]) {
        for (const datagram of hostileDatagrams()) socket.send(datagram, port, "127.0.0.1")
      }
      for (const client of [pub, sub])
        socket.send(forgedCheck(client.answer), mediaPort(client.answer), "127.0.0.1")
      const before = sub.packetsOn(mid).length
      await waitFor(() => sub.packetsOn(mid).length > before + 60, 10_000, "media after the attack")
      expect(sub.packetsOn(mid).every((p) => p.tag === 4)).toBe(true)
      expect(pub.pc.connectionState).toBe("connected")
      expect(sub.pc.connectionState).toBe("connected")
      const late = await TestClient.join(server.baseUrl, "hostile", { subscribe: { video: 1 } })
      await late.connected()
      await waitFor(() => late.packetsOn(late.slotMids[0]!).length > 20, 10_000, "media for a new joiner")
      await late.close()
    } finally {
      socket.close()
      await Promise.all([pub.close(), sub.close()])
    }
  })
})
