/**
 * Reads big-endian bit fields from a byte array. Reading past the end never throws: it
 * yields zeros and sets `overrun`, so a parser reads its whole grammar and checks once.
 */
export class BitReader {
  private bitOffset = 0
  overrun = false

  constructor(
    private readonly bytes: Uint8Array,
    byteOffset = 0
  ) {
    this.bitOffset = byteOffset * 8
  }

  get bitsLeft(): number {
    return Math.max(0, this.bytes.length * 8 - this.bitOffset)
  }

  /** An unsigned field of up to 32 bits. */
  bits(count: number): number {
    let value = 0
    for (let i = 0; i < count; i++) value = value * 2 + this.bit()
    return value
  }

  bit(): number {
    const byte = this.bitOffset >> 3
    if (byte >= this.bytes.length) {
      this.overrun = true
      return 0
    }
    const value = (this.bytes[byte]! >> (7 - (this.bitOffset & 7))) & 1
    this.bitOffset++
    return value
  }

  skip(count: number): void {
    this.bitOffset += count
    if (this.bitOffset > this.bytes.length * 8) this.overrun = true
  }

  /** H.264 ue(v): unsigned exp-Golomb. More than 31 leading zeros is malformed. */
  ue(): number {
    let zeros = 0
    while (this.bit() === 0) {
      if (this.overrun || ++zeros > 31) {
        this.overrun = true
        return 0
      }
    }
    return 2 ** zeros - 1 + this.bits(zeros)
  }

  /** H.264 se(v): signed exp-Golomb. */
  se(): number {
    const k = this.ue()
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2)
  }

  /** AV1 uvlc(). */
  uvlc(): number {
    let zeros = 0
    while (this.bit() === 0) {
      if (this.overrun) return 0
      zeros++
    }
    if (zeros >= 32) return 2 ** 32 - 1
    return this.bits(zeros) + 2 ** zeros - 1
  }
}
