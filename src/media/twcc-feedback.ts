// RTCP transport-wide congestion control feedback (RTPFB, FMT 15),
// draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1.

const RTCP_VERSION = 2
const PT_RTPFB = 205
export const FMT_TRANSPORT_FEEDBACK = 15
const FIXED_BYTES = 20
const MAX_RUN_LENGTH = 0x1fff
const ONE_BIT_SYMBOLS = 14
const TWO_BIT_SYMBOLS = 7

/** Receive deltas count in 250 µs ticks. */
export const TWCC_TICKS_PER_MS = 4
/** The reference time counts in 64 ms units. */
export const TWCC_REFERENCE_TIME_MS = 64
export const TWCC_TICKS_PER_REFERENCE = TWCC_REFERENCE_TIME_MS * TWCC_TICKS_PER_MS
export const MIN_DELTA_TICKS = -0x8000
export const MAX_DELTA_TICKS = 0x7fff

const NOT_RECEIVED = 0
const SMALL_DELTA = 1
const LARGE_DELTA = 2

export interface TransportFeedback {
  readonly senderSsrc: number
  readonly mediaSsrc: number
  /** Transport-wide sequence number of the first packet the feedback covers (16 bits). */
  readonly baseSequenceNumber: number
  /** 24-bit signed, in 64 ms units, in the receiver's own time base. */
  readonly referenceTime: number
  /** 8 bits, incremented by the receiver for every feedback it sends. */
  readonly feedbackCount: number
  /**
   * One entry per packet from the base sequence number on: its receive delta in 250 µs ticks
   * (from the previous received packet, the first one from the reference time), or
   * undefined when it was not received.
   */
  readonly deltas: ReadonlyArray<number | undefined>
}

export type TransportFeedbackParse =
  | { readonly ok: true; readonly feedback: TransportFeedback }
  | { readonly ok: false; readonly reason: string }

const fail = (reason: string): TransportFeedbackParse => ({ ok: false, reason })

/** Sign-extends the low 24 bits. */
export const toSigned24 = (value: number): number => ((value & 0xffffff) << 8) >> 8

/**
 * Parses one RTCP packet (its header included, exactly as long as its length field says).
 * Strict and bounded: anything malformed is an error value, never an exception.
 */
export const parseTransportFeedback = (packet: Uint8Array): TransportFeedbackParse => {
  if (packet.length < FIXED_BYTES) return fail("shorter than the fixed part")
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength)
  const first = view.getUint8(0)
  if (first >> 6 !== RTCP_VERSION) return fail("not RTCP version 2")
  if ((first & 0x1f) !== FMT_TRANSPORT_FEEDBACK || view.getUint8(1) !== PT_RTPFB) {
    return fail("not a transport-wide feedback")
  }
  if ((view.getUint16(2) + 1) * 4 !== packet.length) return fail("length field does not match the packet")
  let end = packet.length
  if ((first & 0x20) !== 0) {
    const padding = packet[packet.length - 1]!
    if (padding === 0 || padding > packet.length - FIXED_BYTES) return fail("bad padding count")
    end -= padding
  }
  const statusCount = view.getUint16(14)
  if (statusCount === 0) return fail("no packet status")

  const symbols = new Uint8Array(statusCount)
  let filled = 0
  let offset = FIXED_BYTES
  while (filled < statusCount) {
    if (offset + 2 > end) return fail("packet status chunks run past the end")
    const chunk = view.getUint16(offset)
    offset += 2
    if ((chunk & 0x8000) === 0) {
      const symbol = (chunk >> 13) & 0x3
      if (symbol > LARGE_DELTA) return fail("reserved status symbol")
      const run = Math.min(chunk & MAX_RUN_LENGTH, statusCount - filled)
      symbols.fill(symbol, filled, filled + run)
      filled += run
    } else if ((chunk & 0x4000) === 0) {
      for (let i = 0; i < ONE_BIT_SYMBOLS && filled < statusCount; i++) {
        symbols[filled++] = (chunk >> (ONE_BIT_SYMBOLS - 1 - i)) & 0x1
      }
    } else {
      for (let i = 0; i < TWO_BIT_SYMBOLS && filled < statusCount; i++) {
        const symbol = (chunk >> (2 * (TWO_BIT_SYMBOLS - 1 - i))) & 0x3
        if (symbol > LARGE_DELTA) return fail("reserved status symbol")
        symbols[filled++] = symbol
      }
    }
  }

  const deltas: Array<number | undefined> = new Array(statusCount)
  for (let i = 0; i < statusCount; i++) {
    const symbol = symbols[i]!
    if (symbol === NOT_RECEIVED) {
      deltas[i] = undefined
    } else if (symbol === SMALL_DELTA) {
      if (offset + 1 > end) return fail("receive deltas run past the end")
      deltas[i] = view.getUint8(offset)
      offset += 1
    } else {
      if (offset + 2 > end) return fail("receive deltas run past the end")
      deltas[i] = view.getInt16(offset)
      offset += 2
    }
  }
  // Senders may align to a word with zero bytes instead of RTCP padding; more is not feedback.
  if (end - offset > 3) return fail("trailing bytes after the receive deltas")

  return {
    ok: true,
    feedback: {
      senderSsrc: view.getUint32(4),
      mediaSsrc: view.getUint32(8),
      baseSequenceNumber: view.getUint16(12),
      referenceTime: toSigned24(view.getUint32(16) >>> 8),
      feedbackCount: view.getUint8(19),
      deltas
    }
  }
}

const symbolOf = (delta: number | undefined): number =>
  delta === undefined ? NOT_RECEIVED : delta >= 0 && delta <= 0xff ? SMALL_DELTA : LARGE_DELTA

/** Chunks that cover `symbols`: run lengths where a run is long, status vectors elsewhere. */
const encodeChunks = (symbols: Uint8Array): number[] => {
  const chunks: number[] = []
  const n = symbols.length
  let i = 0
  while (i < n) {
    let run = 1
    while (i + run < n && run < MAX_RUN_LENGTH && symbols[i + run] === symbols[i]) run++
    const oneBitSpan = Math.min(ONE_BIT_SYMBOLS, n - i)
    let fitsOneBit = true
    for (let k = 0; k < oneBitSpan; k++) if (symbols[i + k]! > SMALL_DELTA) fitsOneBit = false
    if (run >= ONE_BIT_SYMBOLS || (run >= TWO_BIT_SYMBOLS && !fitsOneBit) || run === n - i) {
      chunks.push((symbols[i]! << 13) | run)
      i += run
    } else if (fitsOneBit) {
      let chunk = 0x8000
      for (let k = 0; k < oneBitSpan; k++) chunk |= symbols[i + k]! << (ONE_BIT_SYMBOLS - 1 - k)
      chunks.push(chunk)
      i += oneBitSpan
    } else {
      const span = Math.min(TWO_BIT_SYMBOLS, n - i)
      let chunk = 0xc000
      for (let k = 0; k < span; k++) chunk |= symbols[i + k]! << (2 * (TWO_BIT_SYMBOLS - 1 - k))
      chunks.push(chunk)
      i += span
    }
  }
  return chunks
}

/** Receive delta bytes plus an upper bound on chunk bytes, before the fixed part and padding. */
export const feedbackBodyBound = (statusCount: number, deltaBytes: number): number =>
  2 * Math.ceil(statusCount / TWO_BIT_SYMBOLS) + deltaBytes

/** Bytes a receive delta takes on the wire (0 when not received). */
export const deltaBytes = (delta: number | undefined): number =>
  delta === undefined ? 0 : delta >= 0 && delta <= 0xff ? 1 : 2

/**
 * Serializes a feedback, padded to a 32-bit boundary with RTCP padding. The caller guarantees
 * 1–65535 entries and integral deltas within [-32768, 32767]; anything else is a bug and throws.
 */
export const serializeTransportFeedback = (feedback: TransportFeedback): Uint8Array => {
  const { deltas } = feedback
  if (deltas.length === 0 || deltas.length > 0xffff) throw new RangeError("1 to 65535 packet statuses")
  const symbols = new Uint8Array(deltas.length)
  let deltaLength = 0
  for (let i = 0; i < deltas.length; i++) {
    const delta = deltas[i]
    if (
      delta !== undefined &&
      !(Number.isInteger(delta) && delta >= MIN_DELTA_TICKS && delta <= MAX_DELTA_TICKS)
    ) {
      throw new RangeError(`receive delta out of range: ${delta}`)
    }
    symbols[i] = symbolOf(delta)
    deltaLength += deltaBytes(delta)
  }
  const chunks = encodeChunks(symbols)
  const unpadded = FIXED_BYTES + chunks.length * 2 + deltaLength
  const padding = (4 - (unpadded % 4)) % 4
  const bytes = new Uint8Array(unpadded + padding)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, (RTCP_VERSION << 6) | (padding > 0 ? 0x20 : 0) | FMT_TRANSPORT_FEEDBACK)
  view.setUint8(1, PT_RTPFB)
  view.setUint16(2, bytes.length / 4 - 1)
  view.setUint32(4, feedback.senderSsrc >>> 0)
  view.setUint32(8, feedback.mediaSsrc >>> 0)
  view.setUint16(12, feedback.baseSequenceNumber & 0xffff)
  view.setUint16(14, deltas.length)
  view.setUint32(16, (((feedback.referenceTime & 0xffffff) << 8) | (feedback.feedbackCount & 0xff)) >>> 0)
  let offset = FIXED_BYTES
  for (const chunk of chunks) {
    view.setUint16(offset, chunk)
    offset += 2
  }
  for (const delta of deltas) {
    if (delta === undefined) continue
    if (delta >= 0 && delta <= 0xff) {
      view.setUint8(offset, delta)
      offset += 1
    } else {
      view.setInt16(offset, delta)
      offset += 2
    }
  }
  if (padding > 0) bytes[bytes.length - 1] = padding
  return bytes
}
