import {
  type RTCDtlsTransport,
  type RTCRtpTransceiver,
  RTP_EXTENSION_URI,
  type RtpHeader,
  type RtpPacket as WeriftRtpPacket
} from "werift"
import { CongestionRtcpReader } from "../../media/transport-congestion-rtcp.ts"
import { SenderReportLog } from "../../media/transport-round-trip.ts"
import { TransportSendHistory } from "../../media/transport-send-history.ts"
import { SimulcastRtxIngress } from "../../media/transport-simulcast-rtx.ts"
import { serializeTransportFeedback } from "../../media/twcc-feedback.ts"
import { TwccReceiveReport } from "../../media/twcc-receive-report.ts"
import { transportCounters } from "../../observability/transport-counters.ts"
import type { PeerHandlers, PublicationDescription } from "../transport.ts"
import { tapRtcp } from "./rtcp-tap.ts"

export interface PeerCongestionOptions {
  readonly dtls: RTCDtlsTransport
  readonly publications: ReadonlyArray<{
    readonly description: PublicationDescription
    readonly transceiver: RTCRtpTransceiver
  }>
  /** The slots' media SSRCs (filled as slots are created): their report blocks describe the downlink. */
  readonly slotSsrcs: ReadonlySet<number>
  /** Whether werift routes RTP of this SSRC itself (so a retransmission of it is not ours to unwrap). */
  readonly routedByWerift: (ssrc: number) => boolean
  readonly handlers: () => PeerHandlers
  readonly now: () => number
}

const extensionIdOf = (transceivers: ReadonlyArray<RTCRtpTransceiver>, uri: string): number | undefined => {
  for (const transceiver of transceivers) {
    const id = transceiver.headerExtensions.find((e) => e.uri === uri)?.id
    if (id !== undefined) return id
  }
  return undefined
}

const extensionOf = (header: RtpHeader, id: number | undefined): Buffer | undefined => {
  if (id === undefined) return undefined
  for (const extension of header.extensions) if (extension.id === id) return extension.payload
  return undefined
}

/**
 * Congestion control on one peer connection, both ways:
 * - downlink: the transport-wide send history the slot senders stamp, and the subscriber's
 *   TWCC feedback, REMB and receiver reports turned into `onCongestionFeedback`;
 * - uplink: every incoming packet's transport-wide number recorded (one report across all
 *   m-lines) and fed back to the publisher; werift's own receiver feedback stays off;
 * - simulcast RTX, which werift drops, unwrapped into its layer's media.
 */
export class PeerCongestion {
  readonly sendHistory = new TransportSendHistory()
  readonly senderReports = new SenderReportLog()
  readonly #receiveReport = new TwccReceiveReport()
  readonly #rtx: SimulcastRtxIngress
  readonly #reader: CongestionRtcpReader
  readonly #feedbackSenderSsrc: number
  readonly #twccId: number | undefined
  readonly #midId: number | undefined
  readonly #repairedRidId: number | undefined

  constructor(private readonly options: PeerCongestionOptions) {
    const transceivers = options.publications.map((p) => p.transceiver)
    this.#twccId = extensionIdOf(transceivers, RTP_EXTENSION_URI.transportWideCC)
    this.#midId = extensionIdOf(transceivers, RTP_EXTENSION_URI.sdesMid)
    this.#repairedRidId = extensionIdOf(transceivers, RTP_EXTENSION_URI.repairedRtpStreamId)
    this.#feedbackSenderSsrc = transceivers[0]?.receiver.rtcpSsrc ?? 1
    this.#rtx = new SimulcastRtxIngress(options.publications.map((p) => p.description))
    this.#reader = new CongestionRtcpReader(this.sendHistory, this.senderReports, (ssrc) =>
      options.slotSsrcs.has(ssrc)
    )
    for (const transceiver of transceivers) disableWeriftReceiverFeedback(transceiver)
    tapRtcp(options.dtls, (compound) => this.#onRtcp(compound))
    if (this.#twccId !== undefined || this.#repairedRidId !== undefined) {
      options.dtls.onRtp.subscribe((rtp) => this.#onRtp(rtp))
    }
  }

  /** Whether the publisher negotiated transport-wide numbers, so feedback must be flushed periodically. */
  get receivesTransportWide(): boolean {
    return this.#twccId !== undefined
  }

  /** Learns a simulcast layer's media SSRC, so its retransmissions can be unwrapped. */
  learnLayer(mid: string, rid: string, ssrc: number): void {
    this.#rtx.learnLayer(mid, rid, ssrc)
  }

  /** Sends transport-wide feedback for what arrived since the last one. */
  flushFeedback(): void {
    const feedbacks = this.#receiveReport.flush(this.#feedbackSenderSsrc)
    if (feedbacks.length === 0) return
    const dtls = this.options.dtls
    if (dtls.state !== "connected") return
    for (const feedback of feedbacks) {
      try {
        const protectedPacket = dtls.srtcp.encrypt(Buffer.from(serializeTransportFeedback(feedback)))
        void dtls.iceTransport.connection.send(protectedPacket).catch(() => undefined)
        transportCounters.feedbackSent++
      } catch {
        return
      }
    }
  }

  #onRtcp(compound: Buffer): void {
    const before = this.#reader.malformed
    const feedbacks = this.#reader.read(compound, this.options.now())
    transportCounters.rtcpMalformed += this.#reader.malformed - before
    if (feedbacks.length === 0) return
    const handlers = this.options.handlers()
    for (const feedback of feedbacks) handlers.onCongestionFeedback(feedback)
  }

  #onRtp(rtp: WeriftRtpPacket): void {
    const header = rtp.header
    const transportWide = extensionOf(header, this.#twccId)
    if (transportWide !== undefined && transportWide.length >= 2) {
      const due = this.#receiveReport.record(transportWide.readUInt16BE(0), header.ssrc, this.options.now())
      if (due) this.flushFeedback()
    }
    if (!this.#rtx.handles(header.payloadType) || this.options.routedByWerift(header.ssrc)) return
    const before = { unmapped: this.#rtx.unmapped, padding: this.#rtx.padding }
    const unwrapped = this.#rtx.unwrap({
      ssrc: header.ssrc,
      payloadType: header.payloadType,
      payload: rtp.payload,
      mid: extensionOf(header, this.#midId)?.toString("ascii"),
      repairedRid: extensionOf(header, this.#repairedRidId)?.toString("ascii")
    })
    transportCounters.rtxUnmapped += this.#rtx.unmapped - before.unmapped
    transportCounters.rtxPadding += this.#rtx.padding - before.padding
    if (unwrapped._tag !== "Media") return
    transportCounters.rtxRecovered++
    this.options.handlers().onRtp(unwrapped.mid, {
      payloadType: unwrapped.payloadType,
      sequenceNumber: unwrapped.sequenceNumber,
      timestamp: header.timestamp,
      ssrc: unwrapped.ssrc,
      marker: header.marker,
      payload: unwrapped.payload,
      audioLevel: undefined,
      receivedAtMs: this.options.now(),
      rid: unwrapped.rid
    })
  }
}

interface ReceiverWithFeedback {
  receiverTWCC: { twccRunning: boolean } | undefined
  setupTWCC: (mediaSourceSsrc: number) => void
}

/**
 * werift's receiver-side TWCC is malformed and per m-line (werift-notes §5); it must never
 * send. Its receivers create it lazily (on the first packet, or on renegotiation), so the
 * factory is replaced on each publication's receiver.
 */
const disableWeriftReceiverFeedback = (transceiver: RTCRtpTransceiver) => {
  const receiver = transceiver.receiver as unknown as ReceiverWithFeedback
  if (typeof receiver.setupTWCC !== "function") {
    throw new Error("werift changed: RTCRtpReceiver.setupTWCC is gone")
  }
  if (receiver.receiverTWCC) receiver.receiverTWCC.twccRunning = false
  receiver.receiverTWCC = undefined
  receiver.setupTWCC = () => undefined
}
