/**
 * Counts a participant's bad messages in a sliding window; past the limit it is an abuser.
 * Time comes in as `nowMs`.
 */
export class AbuseGuard {
  private readonly strikes: number[] = []

  constructor(
    private readonly limit: number,
    private readonly windowMs: number
  ) {}

  /** Records one bad message; true once more than `limit` fell within the window. */
  strike(nowMs: number): boolean {
    this.strikes.push(nowMs)
    while (this.strikes.length > 0 && nowMs - this.strikes[0]! >= this.windowMs) this.strikes.shift()
    if (this.strikes.length > this.limit + 1) this.strikes.shift()
    return this.strikes.length > this.limit
  }
}
