import { seqDiff } from "./sequence-number.ts"

/** How far behind the newest sequence number a duplicate is still recognised. */
export const DUPLICATE_WINDOW = 1024

/**
 * Recognises RTP packets of one SSRC that already arrived: a retransmission of a packet that
 * was not lost after all (the NACK raced it), or a publisher's RTX probe, which libwebrtc
 * builds by resending recent media. Forwarding those would waste every subscriber's downlink
 * and make the layer look bigger than it is.
 */
export class DuplicateFilter {
  private readonly seen = new Uint8Array(DUPLICATE_WINDOW)
  private newest: number | undefined

  /** Records `seq` and tells whether it had been recorded already. */
  isDuplicate(seq: number): boolean {
    const index = seq & (DUPLICATE_WINDOW - 1)
    if (this.newest === undefined) {
      this.newest = seq
      this.seen[index] = 1
      return false
    }
    const ahead = seqDiff(seq, this.newest)
    if (ahead > 0) {
      // Clear the slots skipped over: they now stand for sequence numbers not yet received.
      const steps = Math.min(ahead, DUPLICATE_WINDOW)
      for (let i = 1; i <= steps; i++) this.seen[(this.newest + i) & (DUPLICATE_WINDOW - 1)] = 0
      this.newest = seq
      this.seen[index] = 1
      return false
    }
    // Too old to tell: let it through (the forwarder's straggler rules still apply).
    if (-ahead >= DUPLICATE_WINDOW) return false
    if (this.seen[index] === 1) return true
    this.seen[index] = 1
    return false
  }
}
