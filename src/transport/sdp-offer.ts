import { bundleGroupMids, bundleOnlySections } from "./sdp-bundle-only.ts"
import {
  MAX_SECTION_GROUPS,
  MAX_SECTION_SSRCS,
  parseSsrc,
  type SsrcSimulcastLayer,
  ssrcSimulcastLayers
} from "./sdp-ssrc-simulcast.ts"

/**
 * A bounded, forgiving read of an SDP offer: enough to reject garbage with a clear reason
 * before it reaches the WebRTC stack, and to learn what werift does not tell us (offer
 * direction, the simulcast rid order of each m-line, simulcast signalled by SSRC groups, and
 * which port-0 m-lines are bundle-only media rather than rejected ones).
 */

export type OfferDirection = "sendrecv" | "sendonly" | "recvonly" | "inactive"

export interface OfferedMedia {
  readonly kind: "audio" | "video" | "application" | string
  readonly mid: string | undefined
  readonly direction: OfferDirection
  /** Port 0 without being bundle-only: the offerer disables the m-line. */
  readonly rejected: boolean
  /**
   * Port 0 with `a=bundle-only` in a BUNDLE group (RFC 8843): active media on the bundle's
   * transport, which a stack that reads port 0 as rejected must be told about.
   */
  readonly bundleOnly: boolean
  /** rids the client will send, in the order the offer declares them. */
  readonly sendRids: ReadonlyArray<string>
  /**
   * Video simulcast signalled by `a=ssrc-group:SIM` instead of rids: each layer's SSRC (and
   * RTX SSRC), lowest first. Empty with rids, or without one well-formed SIM group.
   */
  readonly ssrcLayers: ReadonlyArray<SsrcSimulcastLayer>
}

export interface OfferSummary {
  readonly media: ReadonlyArray<OfferedMedia>
  readonly iceUfrag: string | undefined
}

export type OfferCheck =
  | { readonly ok: true; readonly summary: OfferSummary }
  | { readonly ok: false; readonly reason: string }

const DIRECTIONS = new Set<string>(["sendrecv", "sendonly", "recvonly", "inactive"])
const MAX_MEDIA_SECTIONS = 64
/** Each BUNDLE group needs an m-line of its own, so more groups than m-lines are ignored. */
const MAX_BUNDLE_GROUPS = MAX_MEDIA_SECTIONS

export const readOffer = (sdp: string): OfferCheck => {
  const lines = sdp.split(/\r?\n/).filter((line) => line.length > 0)
  if (lines[0] !== "v=0") return { ok: false, reason: "an SDP offer must start with v=0" }
  let sessionDirection: OfferDirection = "sendrecv"
  let sessionUfrag: string | undefined
  const bundleGroups: Array<ReadonlyArray<string>> = []
  const sections: Array<{
    kind: string
    port: number
    mid: string | undefined
    hasBundleOnly: boolean
    direction: OfferDirection | undefined
    rids: string[]
    simulcastOrder: string[] | undefined
    ssrcs: Set<number>
    ssrcGroups: string[]
  }> = []
  for (const line of lines) {
    if (!/^[a-z]=/.test(line)) return { ok: false, reason: `malformed SDP line: ${line.slice(0, 40)}` }
    const current = sections.at(-1)
    if (line.startsWith("m=")) {
      const [kind, port] = line.slice(2).split(" ")
      if (kind === undefined || port === undefined || Number.isNaN(Number.parseInt(port, 10))) {
        return { ok: false, reason: `malformed m-line: ${line.slice(0, 40)}` }
      }
      if (sections.length >= MAX_MEDIA_SECTIONS) return { ok: false, reason: "too many m-lines" }
      sections.push({
        kind,
        port: Number.parseInt(port, 10),
        mid: undefined,
        hasBundleOnly: false,
        direction: undefined,
        rids: [],
        simulcastOrder: undefined,
        ssrcs: new Set(),
        ssrcGroups: []
      })
      continue
    }
    if (!line.startsWith("a=")) continue
    const attribute = line.slice(2)
    const colon = attribute.indexOf(":")
    const name = colon < 0 ? attribute : attribute.slice(0, colon)
    const value = colon < 0 ? "" : attribute.slice(colon + 1)
    if (DIRECTIONS.has(name)) {
      if (current) current.direction = name as OfferDirection
      else sessionDirection = name as OfferDirection
    } else if (name === "ice-ufrag" && !current) sessionUfrag = value
    else if (name === "group" && !current) {
      const mids = bundleGroupMids(value)
      if (mids && bundleGroups.length < MAX_BUNDLE_GROUPS) bundleGroups.push(mids)
    } else if (current && name === "mid") current.mid = value
    else if (current && name === "bundle-only") current.hasBundleOnly = true
    else if (current && name === "rid") {
      const [rid, direction] = value.split(" ")
      if (rid && direction === "send") current.rids.push(rid)
    } else if (current && name === "simulcast") {
      const send = /(?:^|\s)send\s+(\S+)/.exec(value)
      if (send?.[1]) current.simulcastOrder = send[1].split(/[;,]/).map((rid) => rid.replace(/^~/, ""))
    } else if (current && name === "ssrc") {
      // One past the limit is kept so that an oversized m-line is recognised as such.
      const space = value.indexOf(" ")
      const ssrc = parseSsrc(space < 0 ? value : value.slice(0, space))
      if (ssrc !== undefined && current.ssrcs.size <= MAX_SECTION_SSRCS) current.ssrcs.add(ssrc)
    } else if (current && name === "ssrc-group") {
      if (current.ssrcGroups.length <= MAX_SECTION_GROUPS) current.ssrcGroups.push(value)
    }
  }
  const bundleOnly = bundleOnlySections(sections, bundleGroups)
  const media = sections.map((section, index): OfferedMedia => {
    const sendRids = section.simulcastOrder?.filter((rid) => section.rids.includes(rid)) ?? section.rids
    return {
      kind: section.kind,
      mid: section.mid,
      direction: section.direction ?? sessionDirection,
      rejected: section.port === 0 && !bundleOnly[index],
      bundleOnly: bundleOnly[index] ?? false,
      sendRids,
      ssrcLayers:
        section.kind === "video" && sendRids.length === 0
          ? ssrcSimulcastLayers(section.ssrcs, section.ssrcGroups)
          : []
    }
  })
  const usable = media.filter(
    (m) => !m.rejected && m.direction !== "inactive" && (m.kind === "audio" || m.kind === "video")
  )
  if (usable.length === 0) return { ok: false, reason: "the offer has no active audio or video m-line" }
  if (usable.some((m) => m.mid === undefined))
    return { ok: false, reason: "every m-line needs a=mid (BUNDLE)" }
  return { ok: true, summary: { media, iceUfrag: sessionUfrag } }
}
