import { Effect, Random } from "effect"
import { codecFromMimeType } from "../../src/media/codec.ts"
import { readOffer } from "../../src/transport/sdp-offer.ts"
import {
  type MediaKind,
  type NegotiatedCodec,
  NegotiationError,
  type PublicationDescription,
  type SlotDescription
} from "../../src/transport/transport.ts"
import { hasTransportCc, TRANSPORT_CC_URI } from "./offer.ts"
import { sessionLines } from "./session-lines.ts"

/** The server side of the simulated negotiation: what werift would answer. */

export interface Negotiated {
  readonly answer: string
  readonly iceUfrag: string | undefined
  /** m-line ids and directions, which a renegotiation may not change. */
  readonly shape: ReadonlyArray<string>
  readonly publications: PublicationDescription[]
  readonly slots: SlotDescription[]
  /** The client offered transport-wide congestion control and the answer accepts it. */
  readonly transportCc: boolean
}

interface OfferedCodecs {
  readonly codecs: ReadonlyArray<NegotiatedCodec>
}

/** Codecs of each m-line from its `m=` format list, `a=rtpmap` and RTX `a=fmtp apt=` lines, in offer order. */
export const readOfferedCodecs = (sdp: string): OfferedCodecs[] => {
  const sections: Array<{
    kind: string
    formats: number[]
    rtpmap: Map<number, { name: string; clockRate: number }>
    apt: Map<number, number>
  }> = []
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("m=")) {
      const [kind = "", , , ...formats] = line.slice(2).split(" ")
      sections.push({
        kind,
        formats: formats.map((f) => Number.parseInt(f, 10)).filter(Number.isFinite),
        rtpmap: new Map(),
        apt: new Map()
      })
      continue
    }
    const current = sections.at(-1)
    if (!current) continue
    const rtpmap = /^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)/.exec(line)
    if (rtpmap) current.rtpmap.set(Number(rtpmap[1]), { name: rtpmap[2]!, clockRate: Number(rtpmap[3]) })
    const fmtp = /^a=fmtp:(\d+) .*apt=(\d+)/.exec(line)
    if (fmtp) current.apt.set(Number(fmtp[2]), Number(fmtp[1]))
  }
  return sections.map((section) => {
    const codecs: NegotiatedCodec[] = []
    for (const payloadType of section.formats) {
      const map = section.rtpmap.get(payloadType)
      const name = map ? codecFromMimeType(`${section.kind}/${map.name}`) : undefined
      if (!map || !name) continue
      codecs.push({
        name,
        payloadType,
        clockRate: map.clockRate,
        rtxPayloadType: section.apt.get(payloadType)
      })
    }
    return { codecs }
  })
}

interface AnswerSection {
  readonly mid: string
  readonly kind: string
  /** The server's direction, or undefined to reject the m-line. */
  readonly direction: "sendonly" | "recvonly" | undefined
  readonly codecs: ReadonlyArray<NegotiatedCodec>
  readonly ssrc: number | undefined
}

const buildAnswer = (ufrag: string, sections: ReadonlyArray<AnswerSection>, transportCc: boolean): string => {
  const lines = [
    ...sessionLines(
      ufrag,
      "prismsimulatedprismsimulated",
      sections.map((s) => s.mid)
    ),
    "a=ice-lite",
    "a=setup:passive"
  ]
  for (const section of sections) {
    const port = section.direction === undefined ? 0 : 9
    const formats = section.codecs.flatMap((c) =>
      c.rtxPayloadType === undefined ? [c.payloadType] : [c.payloadType, c.rtxPayloadType]
    )
    lines.push(
      `m=${section.kind} ${port} UDP/TLS/RTP/SAVPF ${formats.join(" ") || "0"}`,
      `a=mid:${section.mid}`
    )
    lines.push(`a=${section.direction ?? "inactive"}`)
    if (transportCc && section.direction !== undefined) lines.push(`a=extmap:3 ${TRANSPORT_CC_URI}`)
    for (const codec of section.codecs) {
      lines.push(`a=rtpmap:${codec.payloadType} ${codec.name}/${codec.clockRate}`)
      if (transportCc && section.direction !== undefined) {
        lines.push(`a=rtcp-fb:${codec.payloadType} transport-cc`)
      }
      if (codec.rtxPayloadType !== undefined) {
        lines.push(`a=rtpmap:${codec.rtxPayloadType} rtx/${codec.clockRate}`)
        lines.push(`a=fmtp:${codec.rtxPayloadType} apt=${codec.payloadType}`)
      }
    }
    if (section.ssrc !== undefined) lines.push(`a=ssrc:${section.ssrc} cname:prism`)
  }
  return `${lines.join("\r\n")}\r\n`
}

/**
 * Answers an offer the way the werift transport does: send m-lines become publications,
 * receive m-lines become slots with a fixed SSRC, m-lines without a supported codec are
 * rejected. A renegotiation passes the slots' SSRCs, which never change.
 */
export const negotiate = (offer: string, serverUfrag: string, slotSsrcs?: ReadonlyMap<string, number>) =>
  Effect.gen(function* () {
    const checked = readOffer(offer)
    if (!checked.ok) return yield* new NegotiationError({ reason: checked.reason })
    const offered = readOfferedCodecs(offer)
    const publications: PublicationDescription[] = []
    const slots: SlotDescription[] = []
    const sections: AnswerSection[] = []
    for (const [index, media] of checked.summary.media.entries()) {
      const codecs = offered[index]?.codecs ?? []
      const mid = media.mid ?? String(index)
      const usable =
        !media.rejected &&
        (media.kind === "audio" || media.kind === "video") &&
        media.direction !== "inactive" &&
        codecs.length > 0
      if (!usable) {
        sections.push({ mid, kind: media.kind, direction: undefined, codecs: [], ssrc: undefined })
        continue
      }
      const kind = media.kind as MediaKind
      if (media.direction === "recvonly") {
        const ssrc = slotSsrcs?.get(mid) ?? (yield* Random.nextIntBetween(1, 0xffffffff))
        slots.push({ mid, kind, codecs, ssrc })
        sections.push({ mid, kind, direction: "sendonly", codecs, ssrc })
      } else {
        publications.push({ mid, kind, codecs, rids: media.sendRids })
        sections.push({ mid, kind, direction: "recvonly", codecs, ssrc: undefined })
      }
    }
    if (publications.length === 0 && slots.length === 0) {
      return yield* new NegotiationError({ reason: "no offered m-line has a codec the server supports" })
    }
    const transportCc = hasTransportCc(offer)
    const negotiated: Negotiated = {
      answer: buildAnswer(serverUfrag, sections, transportCc),
      transportCc,
      iceUfrag: checked.summary.iceUfrag,
      shape: checked.summary.media.map((m) => `${m.mid} ${m.direction}`),
      publications,
      slots
    }
    return negotiated
  })
