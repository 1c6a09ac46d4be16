import type { OfferedMedia } from "../sdp-offer.ts"

/**
 * werift reads every port-0 m-line as rejected, bundle-only or not: it answers it with port 0
 * and leaves it out of the BUNDLE group, so a bundle-only offer (RFC 8843) would lose that
 * media. werift is handed an equivalent offer instead, in which each m-line the offer reader
 * accepted as bundle-only carries the discard port that a JSEP offer's tagged m-line carries.
 * Only the port of those m-lines changes. werift then answers them with the discard port, in
 * the bundle, as JSEP answerers do and RFC 9143 §7.3 (which obsoletes RFC 8843) asks.
 */

/** The port JSEP writes when candidates, not the m-line, say where media goes. */
export const DISCARD_PORT = 9

export const withBundleOnlyPortsOpened = (
  offer: string,
  media: ReadonlyArray<Pick<OfferedMedia, "bundleOnly">>
): string => {
  if (!media.some((m) => m.bundleOnly)) return offer
  // Odd entries are the line breaks, kept as they were.
  const parts = offer.split(/(\r?\n)/)
  let index = -1
  for (let i = 0; i < parts.length; i += 2) {
    const line = parts[i]!
    if (!line.startsWith("m=")) continue
    index++
    if (media[index]?.bundleOnly) parts[i] = line.replace(/^(m=[^ ]*) [^ ]*/, `$1 ${DISCARD_PORT}`)
  }
  return parts.join("")
}
