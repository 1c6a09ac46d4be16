import type { MediaKind } from "../../src/transport/transport.ts"
import { sessionLines } from "./session-lines.ts"

/** The SDP a simulated client sends, shaped like a browser's (bundle, mids, rtpmap, rid/simulcast). */

export type SimCodec = "opus" | "VP8" | "VP9" | "H264"

const PAYLOAD_TYPES: Record<SimCodec, { pt: number; rtx: number | undefined; rtpmap: string }> = {
  opus: { pt: 111, rtx: undefined, rtpmap: "opus/48000/2" },
  VP8: { pt: 96, rtx: 97, rtpmap: "VP8/90000" },
  VP9: { pt: 98, rtx: 99, rtpmap: "VP9/90000" },
  H264: { pt: 102, rtx: 103, rtpmap: "H264/90000" }
}

export const payloadTypeOf = (codec: SimCodec): number => PAYLOAD_TYPES[codec].pt

export const TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
const TRANSPORT_CC_EXTMAP = `a=extmap:3 ${TRANSPORT_CC_URI}`

export interface OfferSection {
  readonly mid: string
  readonly kind: MediaKind
  readonly direction: "sendonly" | "recvonly"
  readonly codecs: ReadonlyArray<SimCodec>
  /** SSRCs the client sends on this m-line (none for simulcast, which is routed by rid). */
  readonly ssrcs: ReadonlyArray<number>
  readonly rids: ReadonlyArray<string>
}

/** Offers transport-wide congestion control (the header extension and the feedback) on every m-line. */
export const buildOffer = (
  ufrag: string,
  cname: string,
  sections: ReadonlyArray<OfferSection>,
  transportCc = false
): string => {
  const lines = [
    ...sessionLines(
      ufrag,
      "simulatedsimulatedsimulated",
      sections.map((s) => s.mid)
    ),
    "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
    "a=setup:actpass"
  ]
  for (const section of sections) {
    const types = section.codecs.flatMap((c) => {
      const t = PAYLOAD_TYPES[c]
      return t.rtx === undefined ? [t.pt] : [t.pt, t.rtx]
    })
    lines.push(`m=${section.kind} 9 UDP/TLS/RTP/SAVPF ${types.join(" ")}`, "c=IN IP4 0.0.0.0")
    lines.push(`a=mid:${section.mid}`, `a=${section.direction}`, "a=rtcp-mux")
    if (transportCc) lines.push(TRANSPORT_CC_EXTMAP)
    for (const codec of section.codecs) {
      const t = PAYLOAD_TYPES[codec]
      lines.push(`a=rtpmap:${t.pt} ${t.rtpmap}`)
      if (transportCc) lines.push(`a=rtcp-fb:${t.pt} transport-cc`)
      if (section.kind === "video") lines.push(`a=rtcp-fb:${t.pt} nack`, `a=rtcp-fb:${t.pt} nack pli`)
      if (t.rtx !== undefined) lines.push(`a=rtpmap:${t.rtx} rtx/90000`, `a=fmtp:${t.rtx} apt=${t.pt}`)
    }
    for (const ssrc of section.ssrcs) lines.push(`a=ssrc:${ssrc} cname:${cname}`)
    if (section.rids.length > 0) {
      for (const rid of section.rids) lines.push(`a=rid:${rid} send`)
      lines.push(`a=simulcast:send ${section.rids.join(";")}`)
    }
  }
  return `${lines.join("\r\n")}\r\n`
}

export interface AnsweredSection {
  readonly mid: string
  readonly accepted: boolean
  readonly direction: string | undefined
  /** The SSRC the server will send on, for the m-lines it sends on. */
  readonly ssrc: number | undefined
}

/** Whether an offer or answer carries transport-wide congestion control. */
export const hasTransportCc = (sdp: string): boolean => sdp.includes(TRANSPORT_CC_URI)

/** Reads back what the client needs from the server's answer. */
export const readAnswer = (sdp: string): AnsweredSection[] => {
  const sections: Array<{
    mid: string
    accepted: boolean
    direction: string | undefined
    ssrc: number | undefined
  }> = []
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("m=")) {
      sections.push({ mid: "", accepted: line.split(" ")[1] !== "0", direction: undefined, ssrc: undefined })
      continue
    }
    const current = sections.at(-1)
    if (!current) continue
    if (line.startsWith("a=mid:")) current.mid = line.slice(6)
    else if (/^a=(sendonly|recvonly|sendrecv|inactive)$/.test(line)) current.direction = line.slice(2)
    else if (line.startsWith("a=ssrc:") && current.ssrc === undefined) {
      current.ssrc = Number.parseInt(line.slice(7), 10)
    }
  }
  return sections
}
