/**
 * Active-speaker ranking and the choice of which audio tracks a subscriber's audio slots
 * carry. Sans-IO: the room feeds one loudness reading per track per tick, with the time.
 */

export interface SpeakerTuning {
  /** Weight of the newest reading in the smoothed level, per tick (0..1). */
  readonly smoothing: number
  /** Smoothed loudness (0..1) at or above which a track is speaking. */
  readonly speakingThreshold: number
  /** How long a speaker still counts as active after it fell silent, so pauses between words do not flap. */
  readonly holdMs: number
  /** How much louder (0..1 loudness) a newcomer must be to take a slot from an active speaker. */
  readonly switchMargin: number
}

export const DEFAULT_SPEAKER_TUNING: SpeakerTuning = {
  smoothing: 0.5,
  // about -60 dBov: above background noise, below normal speech
  speakingThreshold: 0.53,
  holdMs: 2000,
  switchMargin: 0.08
}

export interface SpeakerState {
  /** False for audio that never carried the RFC 6464 level: its loudness is unknown. */
  readonly ranked: boolean
  /** Smoothed loudness, 0..1 (0 when unranked). */
  readonly level: number
  readonly speaking: boolean
  /** Speaking, or spoke within the hold time. */
  readonly active: boolean
}

interface Tracked {
  level: number
  ranked: boolean
  lastSpokeMs: number | undefined
  speaking: boolean
  active: boolean
}

/** The smoothed level and speaking state of every audio publication in a room. */
export class SpeakerRanking {
  private readonly tracks = new Map<string, Tracked>()

  constructor(private readonly tuning: SpeakerTuning = DEFAULT_SPEAKER_TUNING) {}

  /**
   * One tick for one track. `ranked` says whether it has ever carried levels; `reading` is
   * its mean loudness since the previous tick, undefined when no level arrived (a muted or
   * discontinuous sender counts as silent).
   */
  update(trackId: string, ranked: boolean, reading: number | undefined, nowMs: number): void {
    let tracked = this.tracks.get(trackId)
    if (!tracked) {
      tracked = { level: 0, ranked, lastSpokeMs: undefined, speaking: false, active: false }
      this.tracks.set(trackId, tracked)
    }
    tracked.ranked = ranked
    if (!ranked) return
    const sample = reading ?? 0
    tracked.level += this.tuning.smoothing * (sample - tracked.level)
    tracked.speaking = tracked.level >= this.tuning.speakingThreshold
    if (tracked.speaking) tracked.lastSpokeMs = nowMs
    tracked.active =
      tracked.speaking ||
      (tracked.lastSpokeMs !== undefined && nowMs - tracked.lastSpokeMs < this.tuning.holdMs)
  }

  remove(trackId: string): void {
    this.tracks.delete(trackId)
  }

  state(trackId: string): SpeakerState | undefined {
    const tracked = this.tracks.get(trackId)
    if (!tracked) return undefined
    return {
      ranked: tracked.ranked,
      level: tracked.ranked ? tracked.level : 0,
      speaking: tracked.ranked && tracked.speaking,
      active: tracked.ranked && tracked.active
    }
  }

  /** Active ranked tracks, loudest first. */
  loudest(): Array<{ readonly trackId: string; readonly state: SpeakerState }> {
    const result: Array<{ trackId: string; state: SpeakerState }> = []
    for (const trackId of this.tracks.keys()) {
      const state = this.state(trackId)
      if (state?.active) result.push({ trackId, state })
    }
    return result.sort((a, b) => b.state.level - a.state.level)
  }
}

export interface AudioCandidate {
  readonly id: string
  /** Undefined when the room has not ranked it yet: treated as unranked. */
  readonly speech: SpeakerState | undefined
}

export interface AudioSlotState {
  readonly key: string
  readonly boundTo: string | undefined
}

/** Pinned, then active speakers, then unranked audio, then silent ranked audio. */
const PINNED = 3
const ACTIVE = 2
const UNRANKED = 1
const SILENT = 0

/**
 * The track each of one subscriber's audio slots should carry (undefined: empty).
 * `candidates` are the tracks this subscriber may receive, in join order; `pins` the tracks
 * it pinned, in order of preference. A slot keeps its track while it is pinned, talking or
 * unranked; a newcomer takes a free slot, a silent one, or, when it is an active speaker
 * louder by `switchMargin`, the slot of the quietest. Pins beat everything but other pins.
 * Applying it to its own result changes nothing, so speakers do not flap between ticks.
 */
export const assignAudioSlots = (
  slots: ReadonlyArray<AudioSlotState>,
  candidates: ReadonlyArray<AudioCandidate>,
  pins: ReadonlyArray<string>,
  switchMargin: number
): Map<string, string | undefined> => {
  const order = new Map(candidates.map((c, i) => [c.id, i]))
  const pinOrder = new Map<string, number>()
  for (const id of pins) if (order.has(id) && !pinOrder.has(id)) pinOrder.set(id, pinOrder.size)
  const speech = new Map(candidates.map((c) => [c.id, c.speech]))
  const tier = (id: string) => {
    if (pinOrder.has(id)) return PINNED
    const s = speech.get(id)
    if (!s?.ranked) return UNRANKED
    return s.active ? ACTIVE : SILENT
  }
  const level = (id: string) => speech.get(id)?.level ?? 0

  const result = new Map<string, string | undefined>()
  const held = new Set<string>()
  for (const slot of slots) {
    const keep = slot.boundTo !== undefined && order.has(slot.boundTo) && !held.has(slot.boundTo)
    result.set(slot.key, keep ? slot.boundTo : undefined)
    if (keep) held.add(slot.boundTo!)
  }

  // Weaker first: lower tier, then quieter, then the newer one gives way.
  const weaker = (a: string, b: string) =>
    tier(a) - tier(b) || level(a) - level(b) || order.get(b)! - order.get(a)!
  const displaces = (newcomer: string, incumbent: string) => {
    const t = tier(newcomer)
    const held = tier(incumbent)
    if (held === PINNED) return false
    if (t === PINNED) return true
    if (held === SILENT) return t !== SILENT
    return t === ACTIVE && level(newcomer) > level(incumbent) + switchMargin
  }

  const wanted = candidates
    .map((c) => c.id)
    .filter((id) => !held.has(id))
    .sort(
      (a, b) =>
        tier(b) - tier(a) ||
        (tier(a) === PINNED ? pinOrder.get(a)! - pinOrder.get(b)! : 0) ||
        (tier(a) === ACTIVE ? level(b) - level(a) : 0) ||
        order.get(a)! - order.get(b)!
    )
  for (const id of wanted) {
    let free: string | undefined
    let victim: { key: string; id: string } | undefined
    for (const [key, bound] of result) {
      if (bound === undefined) {
        free ??= key
        continue
      }
      if (!victim || weaker(bound, victim.id) < 0) victim = { key, id: bound }
    }
    if (free !== undefined) {
      result.set(free, id)
      held.add(id)
    } else if (victim && displaces(id, victim.id)) {
      result.set(victim.key, id)
      held.delete(victim.id)
      held.add(id)
    }
  }
  return result
}
