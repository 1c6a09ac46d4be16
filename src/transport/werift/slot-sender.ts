import { randomInt } from "node:crypto"
import { isIP } from "node:net"
import {
  type Extension,
  type RTCDtlsTransport,
  type RTCRtpTransceiver,
  RTP_EXTENSION_URI,
  RtcpSenderInfo,
  RtcpSrPacket,
  RtpHeader,
  serializeAudioLevelIndication,
  serializeSdesMid,
  serializeTransportWideCC
} from "werift"
import { ntpFromUnixMs, ntpMiddle32 } from "../../media/rtcp-feedback.ts"
import type { OutboundRtp } from "../../media/rtp-packet.ts"
import type { SenderReportLog } from "../../media/transport-round-trip.ts"
import type { TransportSendHistory } from "../../media/transport-send-history.ts"
import type { NegotiatedCodec } from "../transport.ts"

/** The parts of werift's ICE objects the direct send path relies on (checked at run time). */
interface UdpPath {
  readonly socket: { send: (data: Buffer, port: number, host: string) => void }
  readonly closed: boolean
}
interface NominatedPair {
  readonly remoteAddr: readonly [string, number]
  readonly protocol: { readonly transport?: Partial<UdpPath> }
}
interface IceConnection {
  readonly nominated: NominatedPair | undefined
  canSendApplicationData(): boolean
  send(data: Buffer): Promise<void>
}

/**
 * The send side of one subscription slot. werift's RTCRtpSender copies the publisher's
 * header extensions verbatim, clones each packet three times and keeps its own seq/ts
 * offsets; the SFU owns all of that, so this writes the wire packet directly: the slot's
 * fixed SSRC, the subscriber's payload type, extensions rebuilt with the subscriber's ids,
 * and Sender Reports (werift only sends those for packets that go through its sender).
 *
 * The protected packet goes straight to the nominated pair's UDP socket: werift's own path
 * (`RTCDtlsTransport.sendRtp`) costs three Promises per packet.
 *
 * When transport-cc is negotiated every packet (media, retransmission, probe padding) takes
 * the next number of the peer connection's `TransportSendHistory`, which remembers it once
 * it has left.
 */
export class SlotSender {
  readonly ssrc: number
  readonly rtxSsrc: number
  private readonly mid: Buffer
  private readonly midId: number | undefined
  private readonly absSendTimeId: number | undefined
  private readonly twccId: number | undefined
  private readonly audioLevelId: number | undefined
  private rtxSequenceNumber: number
  private packetCount = 0
  private octetCount = 0
  private lastTimestamp: number | undefined
  private lastSentAtMs = 0
  private clockRate = 90000
  /** RTX payload type for probe padding: that of the codec last sent, else the first with RTX. */
  private paddingPayloadType: number | undefined

  constructor(
    private readonly transceiver: RTCRtpTransceiver,
    codecs: ReadonlyArray<NegotiatedCodec>,
    private readonly sendHistory: TransportSendHistory,
    private readonly senderReports: SenderReportLog
  ) {
    this.paddingPayloadType = codecs.find((c) => c.rtxPayloadType !== undefined)?.rtxPayloadType
    this.ssrc = transceiver.sender.ssrc
    this.rtxSsrc = transceiver.sender.rtxSsrc
    this.rtxSequenceNumber = randomInt(0x10000)
    this.mid = serializeSdesMid(transceiver.mid ?? "")
    const idOf = (uri: string) => transceiver.headerExtensions.find((e) => e.uri === uri)?.id
    this.midId = idOf(RTP_EXTENSION_URI.sdesMid)
    this.absSendTimeId = idOf(RTP_EXTENSION_URI.absSendTime)
    this.twccId = idOf(RTP_EXTENSION_URI.transportWideCC)
    this.audioLevelId = idOf(RTP_EXTENSION_URI.audioLevelIndication)
  }

  private get dtls(): RTCDtlsTransport | undefined {
    const dtls = this.transceiver.sender.dtlsTransport
    return dtls?.state === "connected" ? dtls : undefined
  }

  /** Returns false when the packet could not be sent (transport not connected yet). */
  send(codec: NegotiatedCodec, packet: OutboundRtp, nowMs: number): boolean {
    const dtls = this.dtls
    if (!dtls) return false
    const header = this.header(codec.payloadType, this.ssrc, packet.sequenceNumber, packet, nowMs)
    if (this.audioLevelId !== undefined && packet.audioLevel) {
      header.extensions.push({
        id: this.audioLevelId,
        payload: serializeAudioLevelIndication(packet.audioLevel.level)
      })
    }
    if (!this.protectAndSend(dtls, toBuffer(packet.payload), header, nowMs, false)) return false
    this.packetCount++
    this.octetCount += packet.payload.byteLength
    this.lastTimestamp = packet.timestamp
    this.lastSentAtMs = nowMs
    this.clockRate = codec.clockRate
    if (codec.rtxPayloadType !== undefined) this.paddingPayloadType = codec.rtxPayloadType
    return true
  }

  /** RFC 4588 retransmission on the RTX stream, or a plain resend when RTX was not negotiated. */
  retransmit(codec: NegotiatedCodec, packet: OutboundRtp, nowMs: number): boolean {
    const dtls = this.dtls
    if (!dtls) return false
    if (codec.rtxPayloadType === undefined) {
      // werift's SRTP bumps its rollover counter on any resent seq 0 (werift-mux-srtp.md §5),
      // which would desynchronise the subscriber for good; losing one packet is cheaper.
      if (packet.sequenceNumber === 0) return false
      const header = this.header(codec.payloadType, this.ssrc, packet.sequenceNumber, packet, nowMs)
      return this.protectAndSend(dtls, toBuffer(packet.payload), header, nowMs, false)
    }
    const payload = Buffer.allocUnsafe(packet.payload.byteLength + 2)
    payload.writeUInt16BE(packet.sequenceNumber, 0)
    payload.set(packet.payload, 2)
    this.rtxSequenceNumber = (this.rtxSequenceNumber + 1) & 0xffff
    const header = this.header(codec.rtxPayloadType, this.rtxSsrc, this.rtxSequenceNumber, packet, nowMs)
    return this.protectAndSend(dtls, payload, header, nowMs, false)
  }

  /**
   * Probe padding: padding-only packets on the RTX stream (receivers drop RTX without an
   * original sequence number, but count it for congestion control), up to `bytes` of whole
   * RTP packets. 0 when the slot has no RTX: padding on the media stream would take its
   * sequence numbers.
   */
  sendPadding(bytes: number, nowMs: number): number {
    const dtls = this.dtls
    const payloadType = this.paddingPayloadType
    if (!dtls || payloadType === undefined || !(bytes > 0)) return 0
    const template = { timestamp: this.lastTimestamp ?? 0, marker: false }
    const headerSize = this.header(payloadType, this.rtxSsrc, 0, template, nowMs, 0).serializeSize
    let sent = 0
    for (let count = 0; count < MAX_PADDING_PACKETS; count++) {
      const paddingSize = Math.min(MAX_PADDING_BYTES, bytes - sent - headerSize)
      if (paddingSize < 1) break
      this.rtxSequenceNumber = (this.rtxSequenceNumber + 1) & 0xffff
      const header = this.header(payloadType, this.rtxSsrc, this.rtxSequenceNumber, template, nowMs)
      header.padding = true
      header.paddingSize = paddingSize
      const padding = Buffer.alloc(paddingSize)
      padding[paddingSize - 1] = paddingSize
      if (!this.protectAndSend(dtls, padding, header, nowMs, true)) break
      sent += header.serializeSize + paddingSize
    }
    return sent
  }

  /** A Sender Report so the subscriber can sync audio and video and measure RTT. */
  sendReport(nowMs: number): void {
    const dtls = this.dtls
    if (!dtls || this.lastTimestamp === undefined) return
    const elapsedTicks = Math.round(((nowMs - this.lastSentAtMs) * this.clockRate) / 1000)
    const ntp = ntpFromUnixMs(nowMs)
    this.senderReports.record(ntpMiddle32(ntp), nowMs)
    const sr = new RtcpSrPacket({
      ssrc: this.ssrc,
      senderInfo: new RtcpSenderInfo({
        ntpTimestamp: (BigInt(ntp.seconds) << 32n) | BigInt(ntp.fraction),
        rtpTimestamp: (this.lastTimestamp + elapsedTicks) >>> 0,
        packetCount: this.packetCount >>> 0,
        octetCount: this.octetCount >>> 0
      })
    })
    void dtls.sendRtcp([sr]).catch(() => undefined)
  }

  private protectAndSend(
    dtls: RTCDtlsTransport,
    payload: Buffer,
    header: RtpHeader,
    nowMs: number,
    probe: boolean
  ): boolean {
    let protectedPacket: Buffer
    try {
      protectedPacket = dtls.srtp.encrypt(payload, header)
    } catch {
      return false
    }
    const connection = dtls.iceTransport.connection as unknown as IceConnection
    const pair = connection.nominated
    if (!pair || !connection.canSendApplicationData()) return false
    const transportSequenceNumber = this.transportSequenceNumberOf(header)
    if (transportSequenceNumber !== undefined) {
      this.sendHistory.sent(transportSequenceNumber, nowMs, header.serializeSize + payload.byteLength, probe)
    }
    const transport = pair.protocol.transport
    const [host, port] = pair.remoteAddr
    if (transport?.socket && !transport.closed && isIP(host) !== 0) {
      transport.socket.send(protectedPacket, port, host)
    } else {
      void connection.send(protectedPacket).catch(() => undefined)
    }
    return true
  }

  private transportSequenceNumberOf(header: RtpHeader): number | undefined {
    if (this.twccId === undefined) return undefined
    const extension = header.extensions.find((e) => e.id === this.twccId)
    return extension ? extension.payload.readUInt16BE(0) : undefined
  }

  private header(
    payloadType: number,
    ssrc: number,
    sequenceNumber: number,
    packet: Pick<OutboundRtp, "timestamp" | "marker">,
    nowMs: number,
    /** Only to measure a header: by default the next transport-wide number is taken. */
    transportSequenceNumber?: number
  ): RtpHeader {
    const extensions: Extension[] = []
    if (this.midId !== undefined) extensions.push({ id: this.midId, payload: this.mid })
    if (this.absSendTimeId !== undefined) {
      extensions.push({ id: this.absSendTimeId, payload: absSendTime(nowMs) })
    }
    if (this.twccId !== undefined) {
      extensions.push({
        id: this.twccId,
        payload: serializeTransportWideCC(transportSequenceNumber ?? this.sendHistory.next())
      })
    }
    return new RtpHeader({
      payloadType,
      ssrc,
      sequenceNumber,
      timestamp: packet.timestamp,
      marker: packet.marker,
      extension: extensions.length > 0,
      extensions
    })
  }
}

/** Padding per packet is at most 255 bytes (its count is one byte). */
const MAX_PADDING_BYTES = 255
const MAX_PADDING_PACKETS = 64

/** abs-send-time: 24 bits, seconds in 6.18 fixed point (the low bits of the NTP time). */
const absSendTime = (nowMs: number): Buffer => {
  const ntp = ntpFromUnixMs(nowMs)
  const value = (((ntp.seconds & 0x3f) << 18) | (ntp.fraction >>> 14)) & 0xffffff
  const bytes = Buffer.allocUnsafe(3)
  bytes.writeUIntBE(value, 0, 3)
  return bytes
}

const toBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
