/**
 * VP8 (RFC 7741 §4.2) and VP9 payload descriptors number pictures (7 or 15 bits) and base-layer
 * frames (TL0PICIDX, 8 bits). A decoder drops frames whose picture ID goes backwards, so when a
 * slot switches source the numbering must continue from where the last source stopped, as the
 * RTP sequence numbers do. Payloads are shared by every subscriber of a track: a rewrite is
 * made on a copy, and only when the numbering actually moved.
 */

const TL0_SPACE = 0x100

interface Descriptor {
  /** byte offset of the picture ID, or -1 */
  readonly pictureIdAt: number
  readonly wide: boolean
  readonly pictureId: number
  /** byte offset of TL0PICIDX, or -1 */
  readonly tl0At: number
  readonly tl0: number
}

const NONE: Descriptor = { pictureIdAt: -1, wide: false, pictureId: 0, tl0At: -1, tl0: 0 }

const readPictureId = (
  payload: Uint8Array,
  at: number
): { wide: boolean; id: number; next: number } | undefined => {
  if (at >= payload.length) return undefined
  const first = payload[at]!
  if ((first & 0x80) === 0) return { wide: false, id: first & 0x7f, next: at + 1 }
  if (at + 1 >= payload.length) return undefined
  return { wide: true, id: ((first & 0x7f) << 8) | payload[at + 1]!, next: at + 2 }
}

const readVp8 = (payload: Uint8Array): Descriptor => {
  if (payload.length < 2 || (payload[0]! & 0x80) === 0) return NONE
  const extension = payload[1]!
  let at = 2
  let picture: ReturnType<typeof readPictureId>
  if (extension & 0x80) {
    picture = readPictureId(payload, at)
    if (!picture) return NONE
    at = picture.next
  }
  const tl0At = extension & 0x40 && at < payload.length ? at : -1
  return {
    pictureIdAt: picture ? picture.next - (picture.wide ? 2 : 1) : -1,
    wide: picture?.wide ?? false,
    pictureId: picture?.id ?? 0,
    tl0At,
    tl0: tl0At >= 0 ? payload[tl0At]! : 0
  }
}

const readVp9 = (payload: Uint8Array): Descriptor => {
  if (payload.length < 1) return NONE
  const flags = payload[0]!
  let at = 1
  let picture: ReturnType<typeof readPictureId>
  if (flags & 0x80) {
    picture = readPictureId(payload, at)
    if (!picture) return NONE
    at = picture.next
  }
  const layerIndices = (flags & 0x20) !== 0
  const flexible = (flags & 0x10) !== 0
  const tl0At = layerIndices && !flexible && at + 1 < payload.length ? at + 1 : -1
  return {
    pictureIdAt: picture ? picture.next - (picture.wide ? 2 : 1) : -1,
    wide: picture?.wide ?? false,
    pictureId: picture?.id ?? 0,
    tl0At,
    tl0: tl0At >= 0 ? payload[tl0At]! : 0
  }
}

const newer = (a: number, b: number, space: number) => {
  const d = (a - b + space) % space
  return d !== 0 && d < space / 2
}

export class PictureIdRewriter {
  private rebasePending = true
  private pictureOffset = 0
  private tl0Offset = 0
  private lastPicture: number | undefined
  private lastTl0: number | undefined

  /** The next packet starts a new source: its numbering continues the previous source's. */
  switchSource(): void {
    this.rebasePending = true
  }

  rewrite(codec: "VP8" | "VP9", payload: Uint8Array): Uint8Array {
    const d = codec === "VP8" ? readVp8(payload) : readVp9(payload)
    if (d.pictureIdAt < 0 && d.tl0At < 0) return payload
    const space = d.wide ? 0x8000 : 0x80
    if (this.rebasePending) {
      this.rebasePending = false
      this.pictureOffset =
        this.lastPicture === undefined ? 0 : (((this.lastPicture + 1 - d.pictureId) % space) + space) % space
      this.tl0Offset = this.lastTl0 === undefined ? 0 : (this.lastTl0 + 1 - d.tl0 + TL0_SPACE) % TL0_SPACE
    }
    const picture = (d.pictureId + this.pictureOffset) % space
    const tl0 = (d.tl0 + this.tl0Offset) % TL0_SPACE
    if (
      d.pictureIdAt >= 0 &&
      (this.lastPicture === undefined || newer(picture, this.lastPicture % space, space))
    ) {
      this.lastPicture = picture
    }
    if (d.tl0At >= 0 && (this.lastTl0 === undefined || newer(tl0, this.lastTl0, TL0_SPACE)))
      this.lastTl0 = tl0
    const movePicture = d.pictureIdAt >= 0 && this.pictureOffset !== 0
    const moveTl0 = d.tl0At >= 0 && this.tl0Offset !== 0
    if (!movePicture && !moveTl0) return payload
    const copy = new Uint8Array(payload.byteLength)
    copy.set(payload)
    if (movePicture) {
      if (d.wide) {
        copy[d.pictureIdAt] = 0x80 | (picture >> 8)
        copy[d.pictureIdAt + 1] = picture & 0xff
      } else {
        copy[d.pictureIdAt] = picture & 0x7f
      }
    }
    if (moveTl0) copy[d.tl0At] = tl0
    return copy
  }
}
