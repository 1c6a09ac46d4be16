import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  type AudioCandidate,
  assignAudioSlots,
  DEFAULT_SPEAKER_TUNING,
  SpeakerRanking,
  type SpeakerState
} from "../../src/media/active-speaker.ts"

const MARGIN = DEFAULT_SPEAKER_TUNING.switchMargin
const TICK = 250
const LOUD = 0.8
const QUIET = 0.05

const speech: fc.Arbitrary<SpeakerState | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constant<SpeakerState>({ ranked: false, level: 0, speaking: false, active: false }),
  fc
    .record({ level: fc.double({ min: 0, max: 1, noNaN: true }), active: fc.boolean() })
    .map(({ level, active }) => ({ ranked: true, level, speaking: active, active }))
)

const scenario = fc
  .record({
    candidates: fc.array(speech, { maxLength: 8 }),
    slotCount: fc.integer({ min: 0, max: 5 }),
    bound: fc.array(fc.integer({ min: -1, max: 9 }), { maxLength: 5 }),
    pins: fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 4 })
  })
  .map(({ candidates, slotCount, bound, pins }) => {
    const cands: AudioCandidate[] = candidates.map((s, i) => ({ id: `t${i}`, speech: s }))
    const slots = Array.from({ length: slotCount }, (_, i) => {
      const b = bound[i]
      return { key: `s${i}`, boundTo: b === undefined || b < 0 ? undefined : `t${b}` }
    })
    return { candidates: cands, slots, pins: pins.map((p) => `t${p}`) }
  })

const tier = (c: AudioCandidate | undefined, pins: ReadonlyArray<string>) =>
  !c ? -1 : pins.includes(c.id) ? 3 : !c.speech?.ranked ? 1 : c.speech.active ? 2 : 0

describe("audio slot assignment", () => {
  it("binds only candidates, each at most once, and is stable when applied to its own result", () => {
    fc.assert(
      fc.property(scenario, ({ candidates, slots, pins }) => {
        const result = assignAudioSlots(slots, candidates, pins, MARGIN)
        expect([...result.keys()].sort()).toEqual(slots.map((s) => s.key).sort())
        const ids = [...result.values()].filter((v) => v !== undefined)
        expect(new Set(ids).size).toBe(ids.length)
        for (const id of ids) expect(candidates.some((c) => c.id === id)).toBe(true)
        const again = assignAudioSlots(
          slots.map((s) => ({ key: s.key, boundTo: result.get(s.key) })),
          candidates,
          pins,
          MARGIN
        )
        expect(again).toEqual(result)
      }),
      { seed: 11, numRuns: 500 }
    )
  })

  it("leaves no slot empty while a candidate is unplaced, and serves pins first", () => {
    fc.assert(
      fc.property(scenario, ({ candidates, slots, pins }) => {
        const result = assignAudioSlots(slots, candidates, pins, MARGIN)
        const placed = new Set([...result.values()].filter((v) => v !== undefined))
        if (placed.size < Math.min(slots.length, candidates.length)) {
          throw new Error("a slot stayed empty while a candidate was left out")
        }
        const eligiblePins = [...new Set(pins)].filter((p) => candidates.some((c) => c.id === p))
        const placedPins = eligiblePins.filter((p) => placed.has(p))
        expect(placedPins.length).toBe(Math.min(eligiblePins.length, slots.length))
      }),
      { seed: 12, numRuns: 500 }
    )
  })

  it("never lets a newcomer displace a stronger incumbent; a louder active newcomer takes the weakest slot", () => {
    fc.assert(
      fc.property(scenario, ({ candidates, slots, pins }) => {
        const byId = new Map(candidates.map((c) => [c.id, c]))
        const result = assignAudioSlots(slots, candidates, pins, MARGIN)
        for (const slot of slots) {
          const before = slot.boundTo === undefined ? undefined : byId.get(slot.boundTo)
          const after = result.get(slot.key)
          if (!before || after === before.id) continue
          if (slots.some((s) => s.key !== slot.key && s.boundTo === before.id)) continue // a duplicate
          const newcomer = byId.get(after!)!
          const tb = tier(before, pins)
          const tn = tier(newcomer, pins)
          // an incumbent only loses its slot to a pin, or (when not pinned) to a stronger newcomer
          expect(tb).toBeLessThan(3)
          if (tn !== 3) {
            if (tb === 0) expect(tn).toBeGreaterThan(0)
            else {
              expect(tn).toBe(2)
              expect(newcomer.speech!.level).toBeGreaterThan((before.speech?.level ?? 0) + MARGIN)
            }
          }
        }
      }),
      { seed: 13, numRuns: 500 }
    )
  })

  it("a louder newcomer takes the quietest speaker's slot, or a silent one when there is one", () => {
    const speaking = (level: number): SpeakerState => ({ ranked: true, level, speaking: true, active: true })
    const silent: SpeakerState = { ranked: true, level: 0.01, speaking: false, active: false }
    const slots = [
      { key: "a", boundTo: "loud" },
      { key: "b", boundTo: "quiet" }
    ]
    const quietest = assignAudioSlots(
      slots,
      [
        { id: "loud", speech: speaking(0.9) },
        { id: "quiet", speech: speaking(0.55) },
        { id: "new", speech: speaking(0.8) }
      ],
      [],
      MARGIN
    )
    expect(quietest).toEqual(
      new Map([
        ["a", "loud"],
        ["b", "new"]
      ])
    )
    const silentSlot = assignAudioSlots(
      slots,
      [
        { id: "loud", speech: speaking(0.9) },
        { id: "quiet", speech: silent },
        { id: "new", speech: speaking(0.56) }
      ],
      [],
      MARGIN
    )
    expect(silentSlot.get("b")).toBe("new")
    const notLouder = assignAudioSlots(
      slots,
      [
        { id: "loud", speech: speaking(0.9) },
        { id: "quiet", speech: speaking(0.6) },
        { id: "new", speech: speaking(0.62) }
      ],
      [],
      MARGIN
    )
    expect(notLouder.get("b")).toBe("quiet")
  })

  it("serves unranked audio in join order", () => {
    const result = assignAudioSlots(
      [
        { key: "a", boundTo: undefined },
        { key: "b", boundTo: undefined }
      ],
      ["x", "y", "z"].map((id) => ({ id, speech: undefined })),
      [],
      MARGIN
    )
    expect([...result.values()]).toEqual(["x", "y"])
  })
})

/** Drives a ranking and one subscriber's slots through time, as the room does. */
const simulate = (
  slotCount: number,
  levels: (trackIndex: number, tick: number) => number | undefined,
  trackCount: number,
  ticks: number
) => {
  const ranking = new SpeakerRanking()
  let bound = new Map<string, string | undefined>(
    Array.from({ length: slotCount }, (_, i) => [`s${i}`, undefined])
  )
  const history: Array<Map<string, string | undefined>> = []
  for (let tick = 0; tick < ticks; tick++) {
    const now = tick * TICK
    for (let t = 0; t < trackCount; t++) ranking.update(`t${t}`, true, levels(t, tick), now)
    const candidates = Array.from({ length: trackCount }, (_, t) => ({
      id: `t${t}`,
      speech: ranking.state(`t${t}`)
    }))
    bound = assignAudioSlots(
      [...bound].map(([key, boundTo]) => ({ key, boundTo })),
      candidates,
      [],
      MARGIN
    )
    history.push(bound)
  }
  return { ranking, history }
}

const switches = (history: ReadonlyArray<Map<string, string | undefined>>, from = 1) => {
  let count = 0
  for (let i = Math.max(1, from); i < history.length; i++) {
    for (const [key, id] of history[i]!)
      if (history[i - 1]!.get(key) !== undefined && history[i - 1]!.get(key) !== id) count++
  }
  return count
}

describe("speaker ranking over time", () => {
  it("keeps a speaker active through pauses shorter than the hold time", () => {
    const ranking = new SpeakerRanking()
    let now = 0
    for (let i = 0; i < 8; i++, now += TICK) ranking.update("t", true, LOUD, now)
    expect(ranking.state("t")?.speaking).toBe(true)
    for (; now < 8 * TICK + DEFAULT_SPEAKER_TUNING.holdMs - TICK; now += TICK) {
      ranking.update("t", true, undefined, now)
      expect(ranking.state("t")?.active).toBe(true)
    }
    for (let i = 0; i < 3; i++, now += TICK) ranking.update("t", true, undefined, now)
    expect(ranking.state("t")?.active).toBe(false)
  })

  it("does not flap between speakers of similar loudness", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 120, maxLength: 120 }),
        fc.integer({ min: 2, max: 5 }),
        (noise, speakers) => {
          // every speaker talks at about the same level, jittering by less than the margin; while
          // the levels ramp up, a speaker may still take the slot of one not yet speaking
          const { history } = simulate(
            1,
            (t, tick) => 0.7 + (noise[(tick * 7 + t * 13) % noise.length]! * MARGIN) / 3,
            speakers,
            120
          )
          expect(switches(history, 10)).toBe(0)
        }
      ),
      { seed: 21, numRuns: 100 }
    )
  })

  it("hands a slot to a louder newcomer, and back only after the hold time", () => {
    // t0 talks from the start; t1 starts louder at tick 20; t0 stops at tick 40; t1 stops at tick 60
    const { history } = simulate(
      1,
      (t, tick) => (t === 0 ? (tick < 40 ? 0.6 : QUIET) : tick >= 20 && tick < 60 ? 0.95 : QUIET),
      2,
      100
    )
    expect(history[10]!.get("s0")).toBe("t0")
    expect(history[30]!.get("s0")).toBe("t1")
    // once t1 is silent past its hold, the slot stays with it: silent t0 cannot take it
    expect(history[99]!.get("s0")).toBe("t1")
    expect(switches(history)).toBe(1)
  })

  it("lets a speaking newcomer take a silent speaker's slot", () => {
    const { history } = simulate(
      2,
      (t, tick) => (t === 2 && tick >= 20 ? 0.6 : t === 2 ? QUIET : tick < 5 ? LOUD : QUIET),
      3,
      40
    )
    expect([...history[39]!.values()]).toContain("t2")
  })
})
