/**
 * Caps what a slot spends on retransmissions: every packet forwarded earns `share` of a
 * retransmission, banked up to `burst`. A subscriber whose link is congested NACKs a lot, and
 * resending everything it asks for only congests it further (the simulation saw thousands of
 * retransmissions pushed into a 50 kbit/s link).
 */
export class RetransmissionBudget {
  private tokens: number

  constructor(
    private readonly share: number,
    private readonly burst: number
  ) {
    this.tokens = burst
  }

  forwarded(packets = 1): void {
    this.tokens = Math.min(this.burst, this.tokens + packets * this.share)
  }

  /** True (and spends one) when a retransmission is affordable now. */
  trySpend(): boolean {
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
