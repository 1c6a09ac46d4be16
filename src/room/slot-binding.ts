import { type AudioSlotState, assignAudioSlots, type SpeakerState } from "../media/active-speaker.ts"
import type { CodecName } from "../media/codec.ts"
import type { MediaKind } from "../transport/transport.ts"

/**
 * Which track each subscription slot should carry. Pure, so its rules are tested as
 * properties: a slot carries only a track of its kind, in a codec it negotiated, never
 * its own participant's, never one the participant already receives on another slot.
 * A slot the subscriber asked a track for carries that track (or nothing); in manual mode
 * the other slots stay empty; otherwise video slots get the oldest eligible publication that
 * flows (one that delivers nothing only when nothing else is free, and a slot on one moves
 * to a free publication that flows) and audio slots follow the active-speaker rules
 * (`assignAudioSlots`) among the publications that flow, when any does.
 */

export interface BindablePublication {
  readonly id: string
  readonly ownerId: string
  readonly kind: MediaKind
  readonly codec: CodecName
  /** Its publisher delivered media lately (absent: assumed to). */
  readonly flowing?: boolean
  /** Active-speaker state of an audio publication; undefined when unranked. */
  readonly speech?: SpeakerState | undefined
}

export interface BindableSlot {
  readonly key: string
  readonly ownerId: string
  readonly kind: MediaKind
  readonly codecs: ReadonlyArray<CodecName>
  /** The publication id it carries now, if any. */
  readonly boundTo: string | undefined
  /** The publication the subscriber asked for on this slot; undefined lets the server choose. */
  readonly requested?: string | undefined
}

export interface SubscriberIntent {
  /** Manual: only requested slots bind. */
  readonly manual: boolean
  /** Audio tracks that keep audio slots regardless of level, in order of preference. */
  readonly pins: ReadonlyArray<string>
}

export interface BindingOptions {
  /** Per subscriber (slot owner); absent means automatic with no pins. */
  readonly intents?: ReadonlyMap<string, SubscriberIntent>
  /** How much louder a newcomer must be to take an active speaker's audio slot. */
  readonly switchMargin?: number
}

const DEFAULT_SWITCH_MARGIN = 0.08

const flows = (publication: BindablePublication) => publication.flowing !== false

const eligible = (publication: BindablePublication, slot: BindableSlot) =>
  publication.kind === slot.kind &&
  publication.ownerId !== slot.ownerId &&
  slot.codecs.includes(publication.codec)

/**
 * The slots whose binding should change, given publications oldest first and slots in the
 * order their participants joined: the new publication id, or undefined to empty the slot.
 * Slots that keep what they carry are absent.
 */
export const assignSlots = (
  publications: ReadonlyArray<BindablePublication>,
  slots: ReadonlyArray<BindableSlot>,
  options: BindingOptions = {}
): Map<string, string | undefined> => {
  const byId = new Map(publications.map((p) => [p.id, p]))
  const intentOf = (ownerId: string) => options.intents?.get(ownerId)
  const target = new Map<string, string | undefined>()
  const receivedBy = new Map<string, Set<string>>()
  const received = (ownerId: string) => {
    let set = receivedBy.get(ownerId)
    if (!set) {
      set = new Set()
      receivedBy.set(ownerId, set)
    }
    return set
  }

  const automatic: BindableSlot[] = []
  for (const slot of slots) {
    if (slot.requested !== undefined) {
      const publication = byId.get(slot.requested)
      const ok =
        publication !== undefined &&
        eligible(publication, slot) &&
        !received(slot.ownerId).has(publication.id)
      target.set(slot.key, ok ? publication.id : undefined)
      if (ok) received(slot.ownerId).add(publication.id)
    } else if (intentOf(slot.ownerId)?.manual) target.set(slot.key, undefined)
    else automatic.push(slot)
  }

  const keeps = (slot: BindableSlot) => {
    const publication = slot.boundTo === undefined ? undefined : byId.get(slot.boundTo)
    return (
      publication !== undefined && eligible(publication, slot) && !received(slot.ownerId).has(publication.id)
    )
  }

  const video = automatic.filter((s) => s.kind === "video")
  for (const slot of video) {
    if (!keeps(slot) || !flows(byId.get(slot.boundTo!)!)) continue
    target.set(slot.key, slot.boundTo)
    received(slot.ownerId).add(slot.boundTo!)
  }
  // Slots on a silent publication, and empty ones: a free publication that flows first.
  for (const slot of video) {
    if (target.has(slot.key)) continue
    const already = received(slot.ownerId)
    const free = (p: BindablePublication) => eligible(p, slot) && !already.has(p.id)
    const choice =
      publications.find((p) => free(p) && flows(p)) ??
      (keeps(slot) ? byId.get(slot.boundTo!) : undefined) ??
      publications.find(free)
    target.set(slot.key, choice?.id)
    if (choice) already.add(choice.id)
  }

  // Audio slots of one subscriber that negotiated the same codecs share one speaker assignment.
  const audioGroups = new Map<string, BindableSlot[]>()
  for (const slot of automatic) {
    if (slot.kind !== "audio") continue
    const group = `${slot.ownerId}\u0000${slot.codecs.join(",")}`
    const list = audioGroups.get(group)
    if (list) list.push(slot)
    else audioGroups.set(group, [slot])
  }
  for (const group of audioGroups.values()) {
    const first = group[0]!
    const already = received(first.ownerId)
    const pins = intentOf(first.ownerId)?.pins ?? []
    const free = publications.filter((p) => eligible(p, first) && !already.has(p.id))
    // Pinned tracks stay candidates whatever they deliver: the subscriber asked for them.
    const preferred = free.filter((p) => flows(p) || pins.includes(p.id))
    const states: AudioSlotState[] = group.map((s) => ({ key: s.key, boundTo: s.boundTo }))
    const assigned = assignAudioSlots(
      states,
      preferred.map((p) => ({ id: p.id, speech: p.speech })),
      pins,
      options.switchMargin ?? DEFAULT_SWITCH_MARGIN
    )
    for (const id of assigned.values()) if (id !== undefined) already.add(id)
    // Slots left empty take what delivers nothing, the one they carry first: nothing better is free.
    const silent = free.filter((p) => !already.has(p.id))
    for (const slot of group) {
      if (assigned.get(slot.key) !== undefined) continue
      const choice =
        silent.find((p) => p.id === slot.boundTo && !already.has(p.id)) ??
        silent.find((p) => !already.has(p.id))
      assigned.set(slot.key, choice?.id)
      if (choice) already.add(choice.id)
    }
    for (const [key, id] of assigned) target.set(key, id)
  }

  const changes = new Map<string, string | undefined>()
  for (const slot of slots) {
    const next = target.get(slot.key)
    if (next !== slot.boundTo) changes.set(slot.key, next)
  }
  return changes
}
