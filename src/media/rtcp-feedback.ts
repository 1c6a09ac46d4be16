// The few RTCP packets the SFU builds itself, as plain bytes (the transport encrypts them).

const RTCP_VERSION = 2
const PT_SENDER_REPORT = 200
const PT_RTPFB = 205
const PT_PSFB = 206
const FMT_GENERIC_NACK = 1
const FMT_PLI = 1

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
export const NTP_UNIX_OFFSET_SECONDS = 2_208_988_800

export interface NtpTime {
  /** Seconds since 1900, mod 2^32. */
  readonly seconds: number
  /** Fraction of a second in units of 2^-32 s. */
  readonly fraction: number
}

export const ntpFromUnixMs = (unixMs: number): NtpTime => {
  const wholeSeconds = Math.floor(unixMs / 1000)
  const remainderMs = unixMs - wholeSeconds * 1000
  const fraction = Math.min(0xffffffff, Math.floor((remainderMs / 1000) * 0x100000000))
  return { seconds: (wholeSeconds + NTP_UNIX_OFFSET_SECONDS) >>> 0, fraction: fraction >>> 0 }
}

/** The middle 32 bits of an NTP timestamp, as echoed in receiver reports' LSR field. */
export const ntpMiddle32 = (ntp: NtpTime): number =>
  (((ntp.seconds & 0xffff) << 16) | (ntp.fraction >>> 16)) >>> 0

const writeHeader = (view: DataView, countOrFmt: number, packetType: number, byteLength: number): void => {
  view.setUint8(0, (RTCP_VERSION << 6) | (countOrFmt & 0x1f))
  view.setUint8(1, packetType)
  // Length is in 32-bit words minus one.
  view.setUint16(2, byteLength / 4 - 1)
}

/** Distinct seqs in circular order, starting after the widest gap, so a run across 65535 -> 0 stays together. */
const circularOrder = (seqs: readonly number[]): number[] => {
  const ascending = [...new Set(seqs.map((s) => s & 0xffff))].sort((a, b) => a - b)
  if (ascending.length < 2) return ascending
  let startIndex = 0
  let widestGap = ascending[0]! + 0x10000 - ascending[ascending.length - 1]!
  for (let i = 1; i < ascending.length; i++) {
    const gap = ascending[i]! - ascending[i - 1]!
    if (gap > widestGap) {
      widestGap = gap
      startIndex = i
    }
  }
  return [...ascending.slice(startIndex), ...ascending.slice(0, startIndex)]
}

/** Groups seqs into RFC 4585 (PID, BLP) pairs: each PID covers itself and the 16 seqs after it. */
export const packNackPairs = (
  seqs: readonly number[]
): Array<{ readonly pid: number; readonly blp: number }> => {
  const pairs: Array<{ pid: number; blp: number }> = []
  let current: { pid: number; blp: number } | undefined
  for (const seq of circularOrder(seqs)) {
    const offset = current === undefined ? 0 : (seq - current.pid) & 0xffff
    if (current !== undefined && offset >= 1 && offset <= 16) {
      current.blp |= 1 << (offset - 1)
    } else {
      current = { pid: seq, blp: 0 }
      pairs.push(current)
    }
  }
  return pairs
}

/** RFC 4585 §6.2.1 Generic NACK (RTPFB, FMT 1). */
export const buildGenericNack = (
  senderSsrc: number,
  mediaSsrc: number,
  seqs: readonly number[]
): Uint8Array => {
  const pairs = packNackPairs(seqs)
  const bytes = new Uint8Array(12 + pairs.length * 4)
  const view = new DataView(bytes.buffer)
  writeHeader(view, FMT_GENERIC_NACK, PT_RTPFB, bytes.length)
  view.setUint32(4, senderSsrc >>> 0)
  view.setUint32(8, mediaSsrc >>> 0)
  pairs.forEach(({ pid, blp }, i) => {
    view.setUint16(12 + i * 4, pid)
    view.setUint16(14 + i * 4, blp & 0xffff)
  })
  return bytes
}

/** RFC 4585 §6.3.1 Picture Loss Indication (PSFB, FMT 1). */
export const buildPli = (senderSsrc: number, mediaSsrc: number): Uint8Array => {
  const bytes = new Uint8Array(12)
  const view = new DataView(bytes.buffer)
  writeHeader(view, FMT_PLI, PT_PSFB, bytes.length)
  view.setUint32(4, senderSsrc >>> 0)
  view.setUint32(8, mediaSsrc >>> 0)
  return bytes
}

/** RFC 3550 §6.4.1 Sender Report without report blocks. ntpMs is Unix epoch milliseconds. */
export const buildSenderReport = (
  ssrc: number,
  ntpMs: number,
  rtpTimestamp: number,
  packetCount: number,
  octetCount: number
): Uint8Array => {
  const bytes = new Uint8Array(28)
  const view = new DataView(bytes.buffer)
  writeHeader(view, 0, PT_SENDER_REPORT, bytes.length)
  const ntp = ntpFromUnixMs(ntpMs)
  view.setUint32(4, ssrc >>> 0)
  view.setUint32(8, ntp.seconds)
  view.setUint32(12, ntp.fraction)
  view.setUint32(16, rtpTimestamp >>> 0)
  view.setUint32(20, packetCount >>> 0)
  view.setUint32(24, octetCount >>> 0)
  return bytes
}

/** Expands a Generic NACK's FCI (PID/BLP pairs) into distinct seqs. Trailing partial entries are ignored. */
export const parseNackSequenceNumbers = (fci: Uint8Array): number[] => {
  const seen = new Set<number>()
  for (let i = 0; i + 4 <= fci.length; i += 4) {
    const pid = (fci[i]! << 8) | fci[i + 1]!
    const blp = (fci[i + 2]! << 8) | fci[i + 3]!
    seen.add(pid)
    for (let bit = 0; bit < 16; bit++) {
      if ((blp & (1 << bit)) !== 0) seen.add((pid + bit + 1) & 0xffff)
    }
  }
  return [...seen]
}
