/**
 * RFC 8843 bundle-only sections. An offerer that wants a section only inside a BUNDLE group
 * gives it port 0 and `a=bundle-only` (§7.2), so that an answerer without BUNDLE rejects it;
 * to an answerer with BUNDLE it is real media on the group's transport. Port 0 without
 * `a=bundle-only`, or outside every BUNDLE group, still disables the section (§7.5.3).
 *
 * The group's first mid names its tagged section, whose transport the group uses; it may not
 * be bundle-only itself (§7.2.1). A group whose tagged section has no port has no transport to
 * join, so its bundle-only sections stay rejected rather than being guessed onto another one.
 */

export interface SectionForBundle {
  readonly port: number
  readonly mid: string | undefined
  readonly hasBundleOnly: boolean
}

/** The mids of an `a=group:` value with BUNDLE semantics; undefined for other semantics. */
export const bundleGroupMids = (groupValue: string): ReadonlyArray<string> | undefined => {
  const [semantics, ...mids] = groupValue.trim().split(/\s+/)
  return semantics === "BUNDLE" ? mids : undefined
}

/** For each section, whether it is a bundle-only member of a BUNDLE group it can join. */
export const bundleOnlySections = (
  sections: ReadonlyArray<SectionForBundle>,
  bundleGroups: ReadonlyArray<ReadonlyArray<string>>
): ReadonlyArray<boolean> => {
  // A mid belongs to the first group naming it (RFC 8843 allows it in one group only).
  const groupOfMid = new Map<string, ReadonlyArray<string>>()
  for (const group of bundleGroups)
    for (const mid of group) if (!groupOfMid.has(mid)) groupOfMid.set(mid, group)
  const portOfMid = new Map<string, number>()
  for (const { mid, port } of sections) if (mid !== undefined && !portOfMid.has(mid)) portOfMid.set(mid, port)
  return sections.map(({ port, mid, hasBundleOnly }) => {
    if (port !== 0 || !hasBundleOnly || mid === undefined) return false
    const group = groupOfMid.get(mid)
    const tag = group?.[0]
    if (tag === undefined || tag === mid || groupOfMid.get(tag) !== group) return false
    const tagPort = portOfMid.get(tag)
    return tagPort !== undefined && tagPort !== 0
  })
}
