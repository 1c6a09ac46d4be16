/**
 * Simulcast signalled without rids: `a=ssrc-group:SIM <low> … <high>` names each layer's media
 * SSRC, lowest quality first, and `a=ssrc-group:FID <media> <rtx>` pairs a layer with its RFC
 * 4588 retransmission stream. Anything malformed, ambiguous or oversized is ignored rather
 * than guessed at: the m-line then counts as one plain stream.
 */

export interface SsrcSimulcastLayer {
  readonly ssrc: number
  /** The layer's RTX SSRC from a matching FID group, if there is exactly one. */
  readonly rtxSsrc: number | undefined
}

/** libwebrtc sends at most 3 simulcast layers; a little room for other stacks. */
export const MAX_SIMULCAST_LAYERS = 4
/** Distinct SSRCs and groups an m-line may declare before its groups are ignored. */
export const MAX_SECTION_SSRCS = 32
export const MAX_SECTION_GROUPS = 16
const MAX_GROUP_CHARS = 256

/** An SSRC as the decimal SDP writes it. 0 is refused: werift treats it as "no SSRC". */
export const parseSsrc = (token: string): number | undefined => {
  if (!/^\d{1,10}$/.test(token)) return undefined
  const ssrc = Number(token)
  return ssrc >= 1 && ssrc <= 0xffffffff ? ssrc : undefined
}

interface Group {
  readonly semantics: string
  readonly ssrcs: ReadonlyArray<number>
}

const parseGroup = (value: string): Group | undefined => {
  if (value.length > MAX_GROUP_CHARS) return undefined
  const [semantics, ...tokens] = value.trim().split(/\s+/)
  if (!semantics) return undefined
  const ssrcs: number[] = []
  for (const token of tokens) {
    const ssrc = parseSsrc(token)
    if (ssrc === undefined || ssrcs.includes(ssrc)) return undefined
    ssrcs.push(ssrc)
  }
  return { semantics, ssrcs }
}

/**
 * The simulcast layers of one m-line, lowest first, from the values of its `a=ssrc-group`
 * attributes and the SSRCs its `a=ssrc` lines declare. Empty unless there is exactly one
 * well-formed SIM group of 2 to `MAX_SIMULCAST_LAYERS` SSRCs, each declared by an `a=ssrc`
 * line. A FID group pairs an RTX SSRC with a layer only when neither appears in another FID
 * group and the RTX SSRC is declared and is not itself a layer.
 */
export const ssrcSimulcastLayers = (
  declaredSsrcs: ReadonlySet<number>,
  groupValues: ReadonlyArray<string>
): ReadonlyArray<SsrcSimulcastLayer> => {
  if (declaredSsrcs.size > MAX_SECTION_SSRCS || groupValues.length > MAX_SECTION_GROUPS) return []
  const groups = groupValues.map(parseGroup)
  const sim = groups.filter((g) => g?.semantics === "SIM")
  if (sim.length !== 1) return []
  const layers = sim[0]!.ssrcs
  if (layers.length < 2 || layers.length > MAX_SIMULCAST_LAYERS) return []
  if (!layers.every((ssrc) => declaredSsrcs.has(ssrc))) return []

  const pairs = groups.filter((g): g is Group => g?.semantics === "FID" && g.ssrcs.length === 2)
  const uses = new Map<number, number>()
  for (const { ssrcs } of pairs) for (const ssrc of ssrcs) uses.set(ssrc, (uses.get(ssrc) ?? 0) + 1)
  const rtxOf = new Map<number, number>()
  for (const { ssrcs } of pairs) {
    const [media, rtx] = ssrcs as [number, number]
    const unique = uses.get(media) === 1 && uses.get(rtx) === 1
    if (unique && layers.includes(media) && !layers.includes(rtx) && declaredSsrcs.has(rtx)) {
      rtxOf.set(media, rtx)
    }
  }
  return layers.map((ssrc) => ({ ssrc, rtxSsrc: rtxOf.get(ssrc) }))
}
