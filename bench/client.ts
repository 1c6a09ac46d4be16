/**
 * A benchmark client process, forked by `bench/run.ts`: either ONE publisher peer
 * connection sending paced, VP8-shaped video RTP, or several subscriber peer connections
 * that each offer one recvonly video m-line and record which packets arrived.
 *
 * Usage (by the orchestrator only): `client.ts publisher|subscriber`, driven over IPC.
 */
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  UdpTransport,
  useAbsSendTime,
  useNACK,
  usePLI,
  useSdesMid,
  useTransportWideCC
} from "werift"
import { installFastSrtp } from "../src/transport/werift/fast-srtp.ts"
import { type FromClient, INDEX_OFFSET, type Role, type ToClient } from "./protocol.ts"

const role = process.argv[2] as Role
if (role !== "publisher" && role !== "subscriber") {
  console.error("usage: client.ts publisher|subscriber (forked by bench/run.ts)")
  process.exit(2)
}
if (!process.send) {
  console.error("client.ts must be forked with an IPC channel by bench/run.ts")
  process.exit(2)
}

// The clients are not what is measured, but they share the 2 cores with the server:
// the same KeyObject swap the server uses makes their SRTP 2.6–4× cheaper.
if (process.env["BENCH_CLIENT_FAST_SRTP"] !== "0") installFastSrtp()

// The subscribers stand in for browsers, which read their sockets from a dedicated thread;
// one werift process hosting 10 peers stalls now and then on 2 shared cores, and with
// Linux's default 208 KB receive buffer a 200 ms stall at 1,000 pkt/s overflows it.
// A larger buffer (capped by net.core.rmem_max) keeps client stalls from becoming loss.
const recvBuffer = Number(process.env["BENCH_CLIENT_RCVBUF"] ?? 4 * 1024 * 1024)
if (recvBuffer > 0) {
  const proto = UdpTransport.prototype as unknown as {
    init: (this: { socket: { setRecvBufferSize: (n: number) => void } }) => Promise<void>
  }
  const init = proto.init
  proto.init = async function (this: { socket: { setRecvBufferSize: (n: number) => void } }) {
    await init.call(this)
    try {
      this.socket.setRecvBufferSize(recvBuffer)
    } catch {
      // best effort: above rmem_max the kernel caps it anyway
    }
  }
}

const send = (message: FromClient) => process.send?.(message)

let leaving = false
process.on("disconnect", () => process.exit(0))
process.on("unhandledRejection", (error) => {
  if (leaving) return
  send({ type: "error", message: `unhandled rejection: ${String(error)}` })
})

const codecs = () => ({
  video: [
    new RTCRtpCodecParameters({
      mimeType: "video/VP8",
      clockRate: 90000,
      payloadType: 96,
      rtcpFeedback: [useNACK(), usePLI()]
    }),
    new RTCRtpCodecParameters({
      mimeType: "video/rtx",
      clockRate: 90000,
      payloadType: 97,
      parameters: "apt=96"
    })
  ]
})

interface Joined {
  readonly pc: RTCPeerConnection
  readonly location: string
}

const newPeer = () =>
  new RTCPeerConnection({
    bundlePolicy: "max-bundle",
    codecs: codecs(),
    headerExtensions: { video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()] },
    iceUseIpv6: false,
    iceStunGatherTimeout: 1
  })

const join = async (pc: RTCPeerConnection, baseUrl: string, room: string): Promise<Joined> => {
  await pc.setLocalDescription(await pc.createOffer())
  const response = await fetch(`${baseUrl}/api/v1/rooms/${encodeURIComponent(room)}/participants`, {
    method: "POST",
    headers: { "content-type": "application/sdp" },
    body: pc.localDescription!.sdp,
    signal: AbortSignal.timeout(15_000)
  })
  const body = await response.text()
  if (response.status !== 201) throw new Error(`join failed: ${response.status} ${body}`)
  await pc.setRemoteDescription({ type: "answer", sdp: body })
  return { pc, location: response.headers.get("location") ?? "" }
}

const connected = (pc: RTCPeerConnection, timeoutMs: number) =>
  new Promise<void>((resolve, reject) => {
    if (pc.connectionState === "connected") return resolve()
    const timer = setTimeout(
      () => reject(new Error(`peer connection not connected after ${timeoutMs} ms (${pc.connectionState})`)),
      timeoutMs
    )
    const { unSubscribe } = pc.connectionStateChange.subscribe((state) => {
      if (state === "connected") {
        clearTimeout(timer)
        unSubscribe()
        resolve()
      } else if (state === "failed" || state === "closed") {
        clearTimeout(timer)
        unSubscribe()
        reject(new Error(`peer connection ${state}`))
      }
    })
  })

/** Which packet indices one subscriber peer received: a growable bitmap, so duplicates (NACK resends) count once. */
class Received {
  private bits = new Uint8Array(1 << 12)
  total = 0
  foreign = 0

  add(index: number): void {
    this.total++
    if (index < 0) {
      this.foreign++
      return
    }
    const byte = index >>> 3
    if (byte >= this.bits.length) {
      let size = this.bits.length
      while (size <= byte) size *= 2
      const grown = new Uint8Array(size)
      grown.set(this.bits)
      this.bits = grown
    }
    this.bits[byte]! |= 1 << (index & 7)
  }

  countIn(from: number, to: number): number {
    let n = 0
    for (let i = from; i < to; i++) {
      const byte = i >>> 3
      if (byte < this.bits.length && (this.bits[byte]! & (1 << (i & 7))) !== 0) n++
    }
    return n
  }
}

const peers: Joined[] = []
const received: Received[] = []

// --- publisher state
const videoTrack = new MediaStreamTrack({ kind: "video" })
let forceKeyframe = true
let keyframes = 0
let pictureLossIndications = 0
let nextIndex = 0
let maxBurst = 0
let pacer: NodeJS.Timeout | undefined

/** A first join warms the server (lazy module loading, JIT, allocator growth) so it does not count as per-participant memory. */
const prime = async (message: Extract<ToClient, { type: "prime" }>) => {
  const pc = newPeer()
  if (role === "publisher")
    pc.addTransceiver(new MediaStreamTrack({ kind: "video" }), { direction: "sendonly" })
  else pc.addTransceiver("video", { direction: "recvonly" })
  const { location } = await join(pc, message.baseUrl, message.room)
  await connected(pc, message.connectTimeoutMs)
  await new Promise((resolve) => setTimeout(resolve, 300))
  await fetch(`${message.baseUrl}${location}`, { method: "DELETE", signal: AbortSignal.timeout(3_000) })
  await pc.close()
  send({ type: "primed" })
}

/** One peer connection joined and connected; a join that does not connect in time is retried once. */
const joinOne = async (message: Extract<ToClient, { type: "join" }>, record: Received | undefined) => {
  for (let attempt = 1; ; attempt++) {
    const pc = newPeer()
    if (role === "publisher") {
      const transceiver = pc.addTransceiver(videoTrack, { direction: "sendonly" })
      transceiver.sender.onPictureLossIndication.subscribe(() => {
        pictureLossIndications++
        forceKeyframe = true
      })
    } else {
      const transceiver = pc.addTransceiver("video", { direction: "recvonly" })
      transceiver.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe((rtp) => {
          const payload = rtp.payload
          record?.add(payload.length >= INDEX_OFFSET + 4 ? payload.readUInt32BE(INDEX_OFFSET) : -1)
        })
      })
    }
    const joined = await join(pc, message.baseUrl, message.room)
    try {
      await connected(pc, message.connectTimeoutMs)
      return { joined, retried: attempt > 1 }
    } catch (error) {
      await fetch(`${message.baseUrl}${joined.location}`, {
        method: "DELETE",
        signal: AbortSignal.timeout(3_000)
      }).catch(() => undefined)
      await pc.close().catch(() => undefined)
      if (attempt >= 2) throw error
    }
  }
}

const joinAll = async (message: Extract<ToClient, { type: "join" }>) => {
  const started = performance.now()
  const records = Array.from({ length: message.count }, () =>
    role === "subscriber" ? new Received() : undefined
  )
  for (const record of records) if (record) received.push(record)
  const results = await Promise.all(records.map((record) => joinOne(message, record)))
  for (const { joined } of results) peers.push(joined)
  send({
    type: "joined",
    connectMs: performance.now() - started,
    retries: results.filter((r) => r.retried).length
  })
}

/**
 * Paced sending: every `burstMs` the packets that are due by now go out, so the average
 * rate is exact whatever the timer jitter. 30 fps frames of rate/fps packets each; a
 * keyframe at the start and at the next frame start after a PLI.
 */
const startPublishing = (message: Extract<ToClient, { type: "start" }>) => {
  const packetsPerFrame = Math.max(1, Math.round(message.rate / message.fps))
  const maxPerTick = Math.max(1, Math.ceil((message.rate * 100) / 1000))
  const started = performance.now()
  const firstIndex = nextIndex
  let sequenceNumber = Math.floor(Math.random() * 0x10000)
  let keyframe = false
  const sendOne = () => {
    const index = nextIndex++
    const inFrame = (index - firstIndex) % packetsPerFrame
    const frame = Math.floor((index - firstIndex) / packetsPerFrame)
    if (inFrame === 0) {
      keyframe = forceKeyframe
      forceKeyframe = false
      if (keyframe) keyframes++
    }
    const payload = Buffer.alloc(message.payloadBytes)
    payload[0] = inFrame === 0 ? 0x10 : 0x00 // VP8 descriptor: S bit, partition 0
    payload[1] = keyframe ? 0x00 : 0x01 // VP8 payload header: P bit clear on keyframes
    payload.writeUInt32BE(index >>> 0, INDEX_OFFSET)
    videoTrack.writeRtp(
      new RtpPacket(
        new RtpHeader({
          payloadType: 96,
          sequenceNumber: sequenceNumber++ & 0xffff,
          timestamp: (frame * Math.round(90000 / message.fps)) >>> 0,
          marker: inFrame === packetsPerFrame - 1
        }),
        payload
      )
    )
  }
  const tick = () => {
    const due = Math.floor(((performance.now() - started) * message.rate) / 1000) - (nextIndex - firstIndex)
    const burst = Math.min(due, maxPerTick)
    if (burst > maxBurst) maxBurst = burst
    // after a stall, catch up at most 100 ms worth per tick; the window's rate is measured, not assumed
    for (let i = 0; i < burst; i++) sendOne()
  }
  tick()
  pacer = setInterval(tick, message.burstMs)
}

const leave = async () => {
  leaving = true
  if (pacer) clearInterval(pacer)
  await Promise.all(
    peers.map(async ({ pc, location }) => {
      if (location) {
        const base = process.env["BENCH_BASE_URL"] ?? ""
        await fetch(`${base}${location}`, { method: "DELETE", signal: AbortSignal.timeout(3_000) }).catch(
          () => undefined
        )
      }
      await Promise.race([pc.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2_000))])
    })
  )
  send({ type: "left" })
  setTimeout(() => process.exit(0), 50)
}

process.on("message", (message: ToClient) => {
  const run = async () => {
    switch (message.type) {
      case "join":
        process.env["BENCH_BASE_URL"] = message.baseUrl
        return joinAll(message)
      case "prime":
        return prime(message)
      case "start":
        return startPublishing(message)
      case "mark":
        return send({
          type: "marked",
          nextIndex,
          atMs: performance.timeOrigin + performance.now(),
          keyframes,
          pictureLossIndications,
          maxBurst
        })
      case "stop":
        if (pacer) clearInterval(pacer)
        pacer = undefined
        return send({ type: "stopped", sent: nextIndex })
      case "count":
        return send({
          type: "counted",
          perPeer: received.map((r) => r.countIn(message.from, message.to)),
          totalReceived: received.reduce((sum, r) => sum + r.total, 0),
          foreign: received.reduce((sum, r) => sum + r.foreign, 0)
        })
      case "leave":
        return leave()
    }
  }
  run().catch((error: unknown) =>
    send({ type: "error", message: error instanceof Error ? error.message : String(error) })
  )
})

send({ type: "ready" })
