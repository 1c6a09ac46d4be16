import type { SpeakerRanking } from "../media/active-speaker.ts"
import type { ParticipantRole } from "../participant/participant.ts"
import type { SubscriptionSlot } from "../participant/subscription-slot.ts"
import type {
  Layer,
  Participant as ParticipantEntry,
  Publication,
  SlotBinding,
  Speaker
} from "../protocol/control-protocol.ts"
import type { Track } from "../track/track.ts"

/** The room's state as the control protocol shows it: roster entries, bindings, speakers. */

/** Speakers listed per message: those on the subscriber's slots, then the room's loudest. */
const MAX_SPEAKERS = 8

export const publicationEntry = (track: Track): Publication => ({
  trackId: track.id,
  kind: track.kind,
  codec: track.codec,
  layers: (track.rids.length > 0 ? track.rids : [null]).map((rid) => ({
    rid,
    width: null,
    height: null,
    bitrateBps: null
  }))
})

export const participantEntry = (
  id: string,
  name: string | null,
  role: ParticipantRole,
  published: ReadonlyArray<Track>
): ParticipantEntry => ({ id, name, role, publications: published.map(publicationEntry) })

/**
 * The simulcast layer a slot forwards: rid and picture size. Its bitrate is left out so that
 * bindings change (and are sent) only when the layer does; clients measure what they receive.
 */
const layerOf = (slot: SubscriptionSlot): Layer | null => {
  const layer = slot.forwardedLayer
  return layer
    ? { rid: layer.rid ?? null, width: layer.width ?? null, height: layer.height ?? null, bitrateBps: null }
    : null
}

export const slotBinding = (slot: SubscriptionSlot): SlotBinding => {
  const track = slot.track
  const reason = slot.pauseReason
  return {
    mid: slot.mid,
    kind: slot.kind,
    trackId: track?.id ?? null,
    participantId: track?.participantId ?? null,
    paused: reason !== undefined,
    reason: !track ? "no-track" : (reason ?? "ok"),
    layer: track && reason === undefined ? layerOf(slot) : null
  }
}

const level = (value: number) => Math.round(value * 100) / 100

export const speakersFor = (
  slots: ReadonlyArray<SubscriptionSlot>,
  ranking: SpeakerRanking,
  published: ReadonlyMap<string, Track>
): Speaker[] => {
  const result: Speaker[] = []
  const listed = new Set<string>()
  const add = (track: Track) => {
    if (listed.has(track.id) || result.length >= MAX_SPEAKERS) return
    listed.add(track.id)
    const state = ranking.state(track.id)
    result.push({
      participantId: track.participantId,
      trackId: track.id,
      level: level(state?.level ?? 0),
      speaking: state?.speaking ?? false
    })
  }
  for (const slot of slots) if (slot.kind === "audio" && slot.track) add(slot.track)
  for (const { trackId } of ranking.loudest()) {
    const track = published.get(trackId)
    if (track) add(track)
  }
  return result
}
