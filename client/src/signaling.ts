/** A refusal from the participants API: the HTTP status and the server's error code. */
export class SignalingError extends Error {
  override readonly name = "SignalingError"
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message)
  }
}

export interface SignalingOptions {
  /** Extra request headers, e.g. `Authorization` for a server with an `Authorizer`. */
  readonly headers?: Readonly<Record<string, string>>
  readonly fetch?: typeof fetch
}

/** The participant resource a join created: where to PATCH and DELETE, and its current ETag. */
export interface ParticipantResource {
  readonly location: string
  readonly participantId: string
  readonly etag: string | null
  readonly answer: string
}

const errorOf = async (response: Response): Promise<SignalingError> => {
  const text = await response.text().catch(() => "")
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }
    if (typeof body.error?.code === "string") {
      return new SignalingError(
        response.status,
        body.error.code,
        String(body.error.message ?? body.error.code)
      )
    }
  } catch {
    // not the API's JSON error body; fall through
  }
  return new SignalingError(
    response.status,
    `http_${response.status}`,
    text.slice(0, 200) || response.statusText
  )
}

const sdpHeaders = (options: SignalingOptions, extra: Record<string, string> = {}) => ({
  ...options.headers,
  "content-type": "application/sdp",
  ...extra
})

/** `POST {server}/api/v1/rooms/{room}/participants` with an offer; the answer and the new resource. */
export const postOffer = async (
  server: URL,
  room: string,
  offer: string,
  options: SignalingOptions
): Promise<ParticipantResource> => {
  const endpoint = new URL(`api/v1/rooms/${encodeURIComponent(room)}/participants`, withTrailingSlash(server))
  const response = await (options.fetch ?? fetch)(endpoint, {
    method: "POST",
    headers: sdpHeaders(options),
    body: offer
  })
  if (response.status !== 201) throw await errorOf(response)
  const locationHeader = response.headers.get("location")
  if (locationHeader === null)
    throw new SignalingError(response.status, "no_location", "the join answer had no Location")
  const location = new URL(locationHeader, endpoint).toString()
  return {
    location,
    participantId: decodeURIComponent(new URL(location).pathname.split("/").pop() ?? ""),
    etag: response.headers.get("etag"),
    answer: await response.text()
  }
}

/** `PATCH {location}` with a new offer (ICE restart); the answer and the new ETag. */
export const patchOffer = async (
  location: string,
  etag: string | null,
  offer: string,
  options: SignalingOptions
): Promise<{ readonly answer: string; readonly etag: string | null }> => {
  const response = await (options.fetch ?? fetch)(location, {
    method: "PATCH",
    headers: sdpHeaders(options, { "if-match": etag ?? "*" }),
    body: offer
  })
  if (response.status !== 200) throw await errorOf(response)
  return { etag: response.headers.get("etag") ?? etag, answer: await response.text() }
}

/** `DELETE {location}`; `keepalive` lets it finish while the page unloads. 404 counts as gone. */
export const deleteParticipant = async (location: string, options: SignalingOptions): Promise<void> => {
  const response = await (options.fetch ?? fetch)(location, {
    method: "DELETE",
    keepalive: true,
    ...(options.headers === undefined ? {} : { headers: { ...options.headers } })
  })
  if (response.status !== 204 && response.status !== 404) throw await errorOf(response)
}

const withTrailingSlash = (url: URL) => (url.pathname.endsWith("/") ? url : new URL(`${url.pathname}/`, url))
