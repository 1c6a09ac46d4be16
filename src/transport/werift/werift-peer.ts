import type { Clock } from "effect"
import { Effect } from "effect"
import {
  GenericNack,
  MediaStream,
  RTCPeerConnection,
  type RTCRtpCodecParameters,
  type RTCRtpTransceiver,
  RTP_EXTENSION_URI,
  RtcpTransportLayerFeedback,
  type RtpPacket as WeriftRtpPacket
} from "werift"
import { codecFromMimeType } from "../../media/codec.ts"
import type { AudioLevel } from "../../media/rtp-packet.ts"
import { type OfferSummary, readOffer } from "../sdp-offer.ts"
import {
  type ConnectionState,
  type MediaKind,
  type NegotiatedCodec,
  NegotiationError,
  type Peer,
  type PeerHandlers,
  type PublicationDescription,
  type SlotDescription
} from "../transport.ts"
import { withBundleOnlyPortsOpened } from "./bundle-only-ports.ts"
import { wireDataChannels } from "./data-channels.ts"
import { followClientNomination } from "./ice-lite-nomination.ts"
import { iceGenerations, resumeRestartedIce } from "./ice-restart.ts"
import { type ServerPeerOptions, serverPeerConfig } from "./peer-config.ts"
import { PeerCongestion } from "./peer-congestion.ts"
import { SlotSender } from "./slot-sender.ts"
import { routeSsrcSimulcast } from "./ssrc-simulcast-routing.ts"

export interface WeriftPeer {
  readonly peer: Peer
  /** Sends a Sender Report on every slot that has sent media. */
  readonly sendReports: (nowMs: number) => void
  /** Sends transport-wide feedback to the client for what arrived since the last one (every ~50 ms). */
  readonly sendTransportFeedback: () => void
  /** Whether the client sends transport-wide sequence numbers (so `sendTransportFeedback` has work). */
  readonly receivesTransportWide: boolean
  readonly close: () => Promise<void>
}

const PUBLISHING = new Set(["sendonly", "sendrecv"])

const negotiatedCodecs = (codecs: ReadonlyArray<RTCRtpCodecParameters>): NegotiatedCodec[] => {
  const result: NegotiatedCodec[] = []
  for (const codec of codecs) {
    const name = codecFromMimeType(codec.mimeType)
    if (!name) continue
    const rtx = codecs.find(
      (c) => c.name.toLowerCase() === "rtx" && (c.parameters ?? "").includes(`apt=${codec.payloadType}`)
    )
    result.push({
      name,
      payloadType: codec.payloadType,
      clockRate: codec.clockRate,
      rtxPayloadType: rtx?.payloadType
    })
  }
  return result
}

const toError = (cause: unknown) =>
  new NegotiationError({ reason: cause instanceof Error ? cause.message : String(cause) })

const noHandlers: PeerHandlers = {
  onRtp: () => undefined,
  onKeyframeRequest: () => undefined,
  onNack: () => undefined,
  onStateChange: () => undefined,
  onCongestionFeedback: () => undefined,
  onDataChannelOpen: () => undefined,
  onDataMessage: () => undefined
}

const mapState = (state: string): ConnectionState | undefined => {
  switch (state) {
    case "connected":
      return "connected"
    case "failed":
      return "failed"
    case "closed":
      return "closed"
    default:
      return undefined
  }
}

/** Answers `offer` with a new server-side werift peer connection. */
export const makeWeriftPeer = (
  offer: string,
  options: ServerPeerOptions,
  clock: Clock.Clock
): Effect.Effect<WeriftPeer, NegotiationError> =>
  Effect.gen(function* () {
    const checked = readOffer(offer)
    if (!checked.ok) return yield* new NegotiationError({ reason: checked.reason })
    const summary = checked.summary
    const pc = new RTCPeerConnection(serverPeerConfig(options))
    const answer = yield* Effect.tryPromise({
      try: () => negotiate(pc, offer, summary),
      catch: toError
    }).pipe(Effect.tapError(() => Effect.promise(() => pc.close().catch(() => undefined))))
    const described = describePeer(pc, summary, answer, nowMsOf(clock))
    if (!described) {
      yield* Effect.promise(() => pc.close().catch(() => undefined))
      return yield* new NegotiationError({ reason: "no offered m-line has a codec the server supports" })
    }
    return { ...described, close: () => pc.close().catch(() => undefined) }
  })

const negotiate = async (pc: RTCPeerConnection, offer: string, summary: OfferSummary) => {
  await pc.setRemoteDescription({ type: "offer", sdp: withBundleOnlyPortsOpened(offer, summary.media) })
  for (const transceiver of pc.getTransceivers()) {
    const offered = summary.media.find((m) => m.mid === transceiver.mid)
    if (!offered) continue
    if (offered.direction === "recvonly") {
      transceiver.setDirection("sendonly")
      // Browsers need an msid to surface the track; werift omits it without a stream.
      transceiver.sender.setStreams([new MediaStream({ id: `prism-${transceiver.mid}` })])
    } else if (PUBLISHING.has(offered.direction)) {
      transceiver.setDirection("recvonly")
    }
  }
  const answer = await pc.createAnswer()
  await pc.setLocalDescription(answer)
  for (const transceiver of pc.getTransceivers()) {
    const offered = summary.media.find((m) => m.mid === transceiver.mid)
    if (offered && PUBLISHING.has(offered.direction) && offered.ssrcLayers.length > 1) {
      routeSsrcSimulcast(pc, transceiver, offered.ssrcLayers)
    }
  }
  return withoutReceiveOnlySsrcs(pc.localDescription?.sdp ?? answer.sdp)
}

/**
 * werift lists its RTX pair (a=ssrc-group:FID and two a=ssrc lines, no msid) even in the
 * sections where the server only receives. libwebrtc reads each msid-less SSRC as its own
 * track and rejects the answer ("Media section has more than one track specified with
 * a=ssrc lines"), so those lines are dropped: a receive-only section sends no media.
 */
export const withoutReceiveOnlySsrcs = (sdp: string): string => {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n"
  const sections: string[][] = [[]]
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("m=")) sections.push([])
    sections.at(-1)!.push(line)
  }
  return sections
    .flatMap((lines, index) =>
      index > 0 && lines.some((l) => l === "a=recvonly" || l === "a=inactive")
        ? lines.filter((l) => !l.startsWith("a=ssrc:") && !l.startsWith("a=ssrc-group:"))
        : lines
    )
    .join(eol)
}

/** Fractional milliseconds from the Effect clock, so latency is measurable and simulations can drive time. */
const nowMsOf = (clock: Clock.Clock) => () => Number(clock.currentTimeNanosUnsafe()) / 1e6

const describePeer = (pc: RTCPeerConnection, summary: OfferSummary, answer: string, now: () => number) => {
  let handlers = noHandlers
  let lastHeardMs = now()
  const heard = () => {
    lastHeardMs = now()
  }
  const publications: PublicationDescription[] = []
  const slots: SlotDescription[] = []
  const publicationTransceivers = new Map<string, RTCRtpTransceiver>()
  const senders = new Map<string, SlotSender>()
  const slotTransceivers: Array<{
    transceiver: RTCRtpTransceiver
    mid: string
    kind: MediaKind
    codecs: NegotiatedCodec[]
  }> = []

  for (const transceiver of pc.getTransceivers()) {
    const mid = transceiver.mid
    const offered = summary.media.find((m) => m.mid === mid)
    if (mid === null || !offered || offered.rejected) continue
    const kind: MediaKind = transceiver.kind === "audio" ? "audio" : "video"
    const codecs = negotiatedCodecs(transceiver.codecs)
    if (codecs.length === 0) continue
    if (PUBLISHING.has(offered.direction)) {
      publications.push({
        mid,
        kind,
        codecs,
        rids: offered.sendRids,
        simulcastSsrcs: offered.ssrcLayers.map((layer) => layer.ssrc)
      })
      publicationTransceivers.set(mid, transceiver)
    } else if (offered.direction === "recvonly") {
      slotTransceivers.push({ transceiver, mid, kind, codecs })
    }
  }
  const dtls = pc.getTransceivers()[0]?.sender.dtlsTransport
  if (!dtls || (publications.length === 0 && slotTransceivers.length === 0)) return undefined

  const slotSsrcs = new Set<number>()
  const router = (pc as unknown as { router?: { ssrcTable?: Record<number, unknown> } }).router
  const congestion = new PeerCongestion({
    dtls,
    publications: publications.map((description) => ({
      description,
      transceiver: publicationTransceivers.get(description.mid)!
    })),
    slotSsrcs,
    routedByWerift: (ssrc) => router?.ssrcTable?.[ssrc] !== undefined,
    handlers: () => handlers,
    now
  })
  for (const [mid, transceiver] of publicationTransceivers) {
    wireInbound(transceiver, mid, () => handlers, heard, now, congestion)
  }
  for (const { transceiver, mid, kind, codecs } of slotTransceivers) {
    const sender = new SlotSender(transceiver, codecs, congestion.sendHistory, congestion.senderReports)
    senders.set(mid, sender)
    slotSsrcs.add(sender.ssrc)
    slots.push({ mid, kind, codecs, ssrc: sender.ssrc })
    transceiver.sender.onRtcp.subscribe((rtcp) => {
      heard()
      if (rtcp.type === RtcpTransportLayerFeedback.type) {
        const feedback = (rtcp as RtcpTransportLayerFeedback).feedback
        if (feedback instanceof GenericNack) handlers.onNack(mid, feedback.lost, now())
      } else if (rtcp.type === 206) {
        const count = (rtcp as { feedback?: { count?: number } }).feedback?.count
        if (count === 1 || count === 4) handlers.onKeyframeRequest(mid, now())
      }
    })
  }

  pc.connectionStateChange.subscribe((state) => {
    if (state === "connected") enlargeSocketBuffers(pc)
    const mapped = mapState(state)
    if (mapped) handlers.onStateChange(mapped)
  })
  dtls.onRtcp.subscribe(heard)
  followClientNomination(pc)
  watchConsent(pc, heard)

  const dataChannels = wireDataChannels(pc, () => handlers)

  const slotSender = (mid: string) => senders.get(mid)
  const peer: Peer = {
    answer,
    publications,
    slots,
    attach: (next) => {
      handlers = next
    },
    sendRtp: (slotMid, codec, packet) => slotSender(slotMid)?.send(codec, packet, now()) ?? false,
    retransmit: (slotMid, codec, packet) => slotSender(slotMid)?.retransmit(codec, packet, now()) ?? false,
    requestKeyframe: (publicationMid, ssrc) => {
      void publicationTransceivers
        .get(publicationMid)
        ?.receiver.sendRtcpPLI(ssrc)
        .catch(() => undefined)
    },
    sendNack: (publicationMid, ssrc, sequenceNumbers) => {
      const transceiver = publicationTransceivers.get(publicationMid)
      const dtlsTransport = transceiver?.receiver.dtlsTransport
      if (!transceiver || dtlsTransport?.state !== "connected") return
      const nack = new GenericNack({
        senderSsrc: transceiver.receiver.rtcpSsrc,
        mediaSourceSsrc: ssrc,
        lost: [...sequenceNumbers]
      })
      void dtlsTransport.sendRtcp([new RtcpTransportLayerFeedback({ feedback: nack })]).catch(() => undefined)
    },
    sendPadding: (slotMid, bytes) => slotSender(slotMid)?.sendPadding(bytes, now()) ?? 0,
    sendData: dataChannels.send,
    silenceMs: () => now() - lastHeardMs,
    renegotiate: (offer) => renegotiate(pc, summary, offer)
  }
  const sendReports = (nowMs: number) => {
    for (const sender of senders.values()) sender.sendReport(nowMs)
  }
  return {
    peer,
    sendReports,
    sendTransportFeedback: () => congestion.flushFeedback(),
    receivesTransportWide: congestion.receivesTransportWide
  }
}

/** Wires every layer's track of a publication: RTP in, werift's NACK generator off (ours is bounded). */
const wireInbound = (
  transceiver: RTCRtpTransceiver,
  mid: string,
  handlers: () => PeerHandlers,
  heard: () => void,
  now: () => number,
  congestion: PeerCongestion
) => {
  const receiver = transceiver.receiver as unknown as { nack: { addPacket: (p: unknown) => void } }
  receiver.nack.addPacket = () => undefined
  const subscribeTrack = (track: (typeof transceiver.receiver.tracks)[number]) => {
    const rid = track.rid
    let layerSsrc: number | undefined
    track.onReceiveRtp.subscribe((rtp: WeriftRtpPacket, extensions) => {
      heard()
      if (rid !== undefined && rtp.header.ssrc !== layerSsrc) {
        layerSsrc = rtp.header.ssrc
        congestion.learnLayer(mid, rid, layerSsrc)
      }
      const level = extensions?.[RTP_EXTENSION_URI.audioLevelIndication] as
        | { v: boolean; level: number }
        | undefined
      const audioLevel: AudioLevel | undefined = level ? { voice: level.v, level: level.level } : undefined
      const header = rtp.header
      handlers().onRtp(mid, {
        payloadType: header.payloadType,
        sequenceNumber: header.sequenceNumber,
        timestamp: header.timestamp,
        ssrc: header.ssrc,
        marker: header.marker,
        payload: rtp.payload,
        audioLevel,
        receivedAtMs: now(),
        rid
      })
    })
  }
  const subscribed = new Set<unknown>()
  const subscribeAll = () => {
    for (const track of transceiver.receiver.tracks) {
      if (subscribed.has(track)) continue
      subscribed.add(track)
      subscribeTrack(track)
    }
  }
  subscribeAll()
  transceiver.onTrack.subscribe(subscribeAll)
}

const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024

/**
 * werift leaves its UDP sockets at the kernel's default buffers (~208 KB); a 200 ms stall of the
 * event loop then overflows them and the losses come back as NACK storms. The kernel caps the
 * request at net.core.rmem_max / wmem_max (see docs/operations.md).
 */
const enlargeSocketBuffers = (pc: RTCPeerConnection) => {
  const connection = pc.getTransceivers()[0]?.sender.dtlsTransport?.iceTransport.connection as
    | { nominated?: { protocol?: { transport?: { socket?: unknown } } } }
    | undefined
  const socket = connection?.nominated?.protocol?.transport?.socket as
    | { setRecvBufferSize?: (n: number) => void; setSendBufferSize?: (n: number) => void }
    | undefined
  try {
    socket?.setRecvBufferSize?.(SOCKET_BUFFER_BYTES)
    socket?.setSendBufferSize?.(SOCKET_BUFFER_BYTES)
  } catch {
    // not bound yet, or the kernel refused: werift's defaults stay
  }
}

/** An ICE-lite server sends no checks of its own, so the client's consent requests are its keepalive. */
const watchConsent = (pc: RTCPeerConnection, heard: () => void) => {
  const connection = pc.getTransceivers()[0]?.sender.dtlsTransport?.iceTransport.connection as
    | { checkIncoming?: (...args: unknown[]) => unknown }
    | undefined
  const original = connection?.checkIncoming
  if (!connection || typeof original !== "function") return
  connection.checkIncoming = function (this: unknown, ...args: unknown[]) {
    heard()
    return original.apply(this, args)
  }
}

const renegotiate = (
  pc: RTCPeerConnection,
  previous: OfferSummary,
  offer: string
): Effect.Effect<string, NegotiationError> =>
  Effect.gen(function* () {
    const checked = readOffer(offer)
    if (!checked.ok) return yield* new NegotiationError({ reason: checked.reason })
    const same =
      checked.summary.media.length === previous.media.length &&
      checked.summary.media.every(
        (m, i) => m.mid === previous.media[i]?.mid && m.direction === previous.media[i]?.direction
      )
    if (!same) {
      return yield* new NegotiationError({
        reason: "a new offer may restart ICE but must keep the same m-lines and directions"
      })
    }
    return yield* Effect.tryPromise({
      try: async () => {
        const generations = iceGenerations(pc)
        const answer = await negotiate(pc, offer, checked.summary)
        resumeRestartedIce(pc, generations)
        return answer
      },
      catch: toError
    })
  })
