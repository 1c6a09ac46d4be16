import type { CodecName } from "../media/codec.ts"
import type { MediaKind } from "../transport/transport.ts"

/**
 * Which track each free subscription slot should carry. Pure, so its rules are tested as
 * properties: a slot carries only a track of its kind, in a codec it negotiated, never
 * its own participant's, never one the participant already receives on another slot, and
 * the oldest eligible publication comes first.
 */

export interface BindablePublication {
  readonly id: string
  readonly ownerId: string
  readonly kind: MediaKind
  readonly codec: CodecName
}

export interface BindableSlot {
  readonly key: string
  readonly ownerId: string
  readonly kind: MediaKind
  readonly codecs: ReadonlyArray<CodecName>
  /** The publication id it carries now, if any. */
  readonly boundTo: string | undefined
}

/**
 * New bindings for the slots that are free, given publications oldest first and slots in
 * the order their participants joined. Bound slots keep what they carry.
 */
export const assignSlots = (
  publications: ReadonlyArray<BindablePublication>,
  slots: ReadonlyArray<BindableSlot>
): Map<string, string> => {
  const assigned = new Map<string, string>()
  const receivedBy = new Map<string, Set<string>>()
  const received = (ownerId: string) => {
    let set = receivedBy.get(ownerId)
    if (!set) {
      set = new Set()
      receivedBy.set(ownerId, set)
    }
    return set
  }
  const known = new Set(publications.map((p) => p.id))
  for (const slot of slots) {
    if (slot.boundTo !== undefined && known.has(slot.boundTo)) received(slot.ownerId).add(slot.boundTo)
  }
  for (const slot of slots) {
    if (slot.boundTo !== undefined && known.has(slot.boundTo)) continue
    const already = received(slot.ownerId)
    const choice = publications.find(
      (p) =>
        p.kind === slot.kind &&
        p.ownerId !== slot.ownerId &&
        !already.has(p.id) &&
        slot.codecs.includes(p.codec)
    )
    if (!choice) continue
    already.add(choice.id)
    assigned.set(slot.key, choice.id)
  }
  return assigned
}
