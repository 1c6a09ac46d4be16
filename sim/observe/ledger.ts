import type { MediaKind } from "../../src/transport/transport.ts"
import { decodePayload, type PayloadInfo, streamKey } from "../media/payload.ts"

/**
 * What the server did, as seen at the transport seam: every packet it sent on every slot,
 * every keyframe request and NACK it sent to publishers, every packet publishers got
 * through to it. The oracles judge the server from this record, before the subscriber's
 * own link has had a chance to lose anything.
 */

export interface SentPacket {
  readonly t: number
  readonly seq: number
  readonly ts: number
  readonly info: PayloadInfo | undefined
  readonly keyframeStart: boolean
}

export interface PeerRecord {
  readonly client: string
  readonly room: string
  readonly participantId: string
  readonly openedAt: number
  closedAt: number | undefined
}

export interface SlotRecord {
  readonly peer: PeerRecord
  readonly mid: string
  readonly kind: MediaKind
  readonly ssrc: number
  readonly sent: SentPacket[]
  readonly retransmitted: SentPacket[]
  nackedSeqs: number
  keyframeRequests: number
}

/** Congestion feedback on one connection: what the client reported and what the server made of it. */
export interface FeedbackRecord {
  readonly peer: PeerRecord
  /** Transport-wide feedback messages the server read, and those it rejected as malformed. */
  transportFeedback: number
  rejected: number
  /** Packet results handed to the SFU, and how many of them said lost. */
  packetsReported: number
  packetsReportedLost: number
  /** Sequence numbers covered by feedback that the server no longer (or never) remembered. */
  unknown: number
  receiverReports: number
  /** Padding the server sent to probe the downlink. */
  paddingPackets: number
  paddingBytes: number
}

export interface PublicationRecord {
  readonly peer: PeerRecord
  readonly mid: string
  readonly kind: MediaKind
  /** When the server sent this publisher a keyframe request, and for which SSRC (simulcast layer). */
  readonly keyframeRequests: Array<{ readonly atMs: number; readonly ssrc: number }>
  nackedSeqs: number
}

export class Ledger {
  readonly peers: PeerRecord[] = []
  readonly slots: SlotRecord[] = []
  readonly publications: PublicationRecord[] = []
  readonly feedback: FeedbackRecord[] = []
  /** Per stream (see `streamKey`), when each publisher sequence number reached the server (retransmissions too). */
  readonly arrivals = new Map<string, Map<number, number[]>>()
  /** Per stream, the packets the publisher's uplink lost or let others overtake. */
  readonly upstreamDisorder = new Map<string, number>()
  openPeers = 0

  openPeer(client: string, room: string, participantId: string, now: number): PeerRecord {
    const peer: PeerRecord = { client, room, participantId, openedAt: now, closedAt: undefined }
    this.peers.push(peer)
    this.openPeers++
    return peer
  }

  closePeer(peer: PeerRecord, now: number): void {
    if (peer.closedAt !== undefined) return
    peer.closedAt = now
    this.openPeers--
  }

  slot(peer: PeerRecord, mid: string, kind: MediaKind, ssrc: number): SlotRecord {
    const record: SlotRecord = {
      peer,
      mid,
      kind,
      ssrc,
      sent: [],
      retransmitted: [],
      nackedSeqs: 0,
      keyframeRequests: 0
    }
    this.slots.push(record)
    return record
  }

  feedbackOf(peer: PeerRecord): FeedbackRecord {
    const record: FeedbackRecord = {
      peer,
      transportFeedback: 0,
      rejected: 0,
      packetsReported: 0,
      packetsReportedLost: 0,
      unknown: 0,
      receiverReports: 0,
      paddingPackets: 0,
      paddingBytes: 0
    }
    this.feedback.push(record)
    return record
  }

  publication(peer: PeerRecord, mid: string, kind: MediaKind): PublicationRecord {
    const record: PublicationRecord = { peer, mid, kind, keyframeRequests: [], nackedSeqs: 0 }
    this.publications.push(record)
    return record
  }

  recordSend(
    slot: SlotRecord,
    now: number,
    seq: number,
    ts: number,
    payload: Uint8Array,
    retransmission: boolean
  ): void {
    const info = decodePayload(payload)
    const keyframeStart = info?.keyframe === true && info.index === 0
    const packet: SentPacket = { t: now, seq, ts, info, keyframeStart }
    if (retransmission) slot.retransmitted.push(packet)
    else slot.sent.push(packet)
  }

  recordArrival(payload: Uint8Array, now: number): void {
    const info = decodePayload(payload)
    if (!info) return
    const key = streamKey(info)
    let arrivals = this.arrivals.get(key)
    if (!arrivals) {
      arrivals = new Map()
      this.arrivals.set(key, arrivals)
    }
    const times = arrivals.get(info.useq)
    if (times) times.push(now)
    else arrivals.set(info.useq, [now])
  }

  recordUpstreamDisorder(payload: Uint8Array): void {
    const info = decodePayload(payload)
    if (!info) return
    const key = streamKey(info)
    this.upstreamDisorder.set(key, (this.upstreamDisorder.get(key) ?? 0) + 1)
  }
}
