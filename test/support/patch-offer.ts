export interface PatchResult {
  readonly status: number
  /** The new ETag (200), or "" */
  readonly etag: string
  /** The answer (200), or the error body */
  readonly body: string
}

/** Sends a new offer (an ICE restart) to a participant's resource with `If-Match`. */
export const patchOffer = async (url: string, ifMatch: string, offer: string): Promise<PatchResult> => {
  const response = await fetch(url, {
    method: "PATCH",
    headers: { "content-type": "application/sdp", "if-match": ifMatch },
    body: offer
  })
  return { status: response.status, etag: response.headers.get("etag") ?? "", body: await response.text() }
}

export const iceUfrag = (sdp: string): string | undefined => /a=ice-ufrag:(\S+)/.exec(sdp)?.[1]
