/**
 * RFC 6464 audio levels as the SFU reads them: one byte per packet, already parsed by the
 * transport. A meter only adds the level to a running sum on the hot path; the room reads
 * the mean once per ranking tick.
 */

/** RFC 6464: 127 -dBov is silence (also what a muted or DTX sender reports). */
export const SILENCE_DBOV = 127

/** 0..1 loudness from -dBov (0 loudest, 127 silence): linear in decibels, clamped. */
export const loudnessFromDbov = (levelDbov: number): number => {
  if (!(levelDbov >= 0) || levelDbov >= SILENCE_DBOV) return 0
  return (SILENCE_DBOV - levelDbov) / SILENCE_DBOV
}

export class AudioLevelMeter {
  private sum = 0
  private count = 0
  /** Whether any packet ever carried a level (a publication without the extension is unranked). */
  ranked = false

  observe(levelDbov: number): void {
    this.sum += loudnessFromDbov(levelDbov)
    this.count++
    this.ranked = true
  }

  /** The mean loudness since the previous read, or undefined when no level arrived in between. */
  read(): number | undefined {
    if (this.count === 0) return undefined
    const mean = this.sum / this.count
    this.sum = 0
    this.count = 0
    return mean
  }
}
