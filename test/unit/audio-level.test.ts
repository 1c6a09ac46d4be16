import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { AudioLevelMeter, loudnessFromDbov, SILENCE_DBOV } from "../../src/media/audio-level.ts"

describe("audio level", () => {
  it("maps -dBov to 0..1 loudness, louder (smaller -dBov) higher", () => {
    expect(loudnessFromDbov(0)).toBe(1)
    expect(loudnessFromDbov(SILENCE_DBOV)).toBe(0)
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 127 }), fc.integer({ min: 0, max: 127 }), (a, b) => {
        const la = loudnessFromDbov(a)
        expect(la).toBeGreaterThanOrEqual(0)
        expect(la).toBeLessThanOrEqual(1)
        if (a < b) expect(la).toBeGreaterThan(loudnessFromDbov(b))
      }),
      { seed: 1, numRuns: 300 }
    )
    for (const bad of [Number.NaN, -1, 200]) expect(loudnessFromDbov(bad)).toBe(0)
  })

  it("reads the mean loudness since the last read, then nothing until a new level", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 127 }), { minLength: 1, maxLength: 50 }), (levels) => {
        const meter = new AudioLevelMeter()
        expect(meter.ranked).toBe(false)
        for (const level of levels) meter.observe(level)
        const mean = levels.reduce((sum, l) => sum + loudnessFromDbov(l), 0) / levels.length
        expect(meter.read()).toBeCloseTo(mean, 9)
        expect(meter.read()).toBeUndefined()
        expect(meter.ranked).toBe(true)
      }),
      { seed: 2, numRuns: 200 }
    )
  })
})
