/** One reading of a receiver's cumulative byte counter. */
export interface ByteSample {
  readonly bytes: number
  readonly timestampMs: number
}

/**
 * Bits per second between two readings of a cumulative counter; null when they cannot be
 * compared (the first reading, a clock that did not advance, a counter that went backwards
 * because the stream was reset).
 */
export const bitrateBetween = (previous: ByteSample | undefined, next: ByteSample): number | null => {
  if (previous === undefined) return null
  const ms = next.timestampMs - previous.timestampMs
  const bytes = next.bytes - previous.bytes
  if (!(ms > 0) || bytes < 0) return null
  return Math.round((bytes * 8 * 1000) / ms)
}
