import { ByteSize, Data, Effect } from "effect"
import { HttpIncomingMessage, type HttpServerRequest } from "effect/http"

export const MAX_OFFER_BYTES = 64 * 1024

export class UnsupportedMediaType extends Data.TaggedError("UnsupportedMediaType")<{}> {}
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{ readonly limit: number }> {}
export class InvalidBody extends Data.TaggedError("InvalidOffer")<{ readonly reason: string }> {}

/** Reads an `application/sdp` body of at most 64 KiB without buffering anything larger. */
export const readSdpBody = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const contentType = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
    if (contentType !== "application/sdp") return yield* new UnsupportedMediaType()
    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > MAX_OFFER_BYTES) return yield* new BodyTooLarge({ limit: MAX_OFFER_BYTES })
    const text = yield* request.text.pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(MAX_OFFER_BYTES)),
      Effect.mapError(() => new BodyTooLarge({ limit: MAX_OFFER_BYTES }))
    )
    if (Buffer.byteLength(text) > MAX_OFFER_BYTES) return yield* new BodyTooLarge({ limit: MAX_OFFER_BYTES })
    if (text.trim().length === 0) return yield* new InvalidBody({ reason: "the body is empty" })
    return text
  })
