// Recently sent packets keyed by output sequence number, for answering NACKs.

const SEQ_SPACE = 0x10000

/** Smallest power of two >= n, capped at the sequence space, so slots stay aligned across wraparound. */
const slotCountFor = (capacity: number): number => {
  let slots = 1
  while (slots < capacity && slots < SEQ_SPACE) slots *= 2
  return slots
}

/**
 * A ring buffer indexed by sequence number. Holds at least the last `capacity` consecutive
 * sequence numbers (the slot count is rounded up to a power of two, so wraparound from 65535
 * to 0 does not evict early).
 */
export class PacketHistory<P extends { readonly sequenceNumber: number }> {
  readonly #slots: (P | undefined)[]
  readonly #mask: number
  #size = 0

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`PacketHistory capacity must be a positive integer, got ${capacity}`)
    }
    const slots = slotCountFor(capacity)
    this.#slots = new Array<P | undefined>(slots).fill(undefined)
    this.#mask = slots - 1
  }

  put(packet: P): void {
    const index = packet.sequenceNumber & this.#mask
    if (this.#slots[index] === undefined) this.#size++
    this.#slots[index] = packet
  }

  /** The stored packet with exactly this sequence number, if it has not been overwritten. */
  get(sequenceNumber: number): P | undefined {
    const entry = this.#slots[sequenceNumber & this.#mask]
    return entry !== undefined && (entry.sequenceNumber & 0xffff) === (sequenceNumber & 0xffff)
      ? entry
      : undefined
  }

  clear(): void {
    this.#slots.fill(undefined)
    this.#size = 0
  }

  get size(): number {
    return this.#size
  }

  /** Number of slots actually allocated (capacity rounded up to a power of two). */
  get slotCount(): number {
    return this.#slots.length
  }
}
