import { HttpServerResponse } from "effect/http"

/** Every client mistake is answered as `{ "error": { "code", "message" } }` with a 4xx status. */
export const errorResponse = (
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {}
) =>
  HttpServerResponse.text(JSON.stringify({ error: { code, message } }), {
    status,
    contentType: "application/json",
    headers
  })

interface Tagged {
  readonly _tag: string
  readonly [key: string]: unknown
}

/** The one place where domain errors become HTTP statuses. */
export const responseForError = (error: Tagged) => {
  switch (error._tag) {
    case "InvalidRoomName":
      return errorResponse(
        400,
        "invalid_room_name",
        "room names are 1-64 characters of A-Z, a-z, 0-9, _ and -"
      )
    case "InvalidOffer":
      return errorResponse(400, "invalid_offer", `the SDP offer was rejected: ${String(error["reason"])}`)
    case "UnsupportedMediaType":
      return errorResponse(
        415,
        "unsupported_media_type",
        "send the SDP offer with Content-Type: application/sdp"
      )
    case "BodyTooLarge":
      return errorResponse(413, "body_too_large", `the body exceeds ${String(error["limit"])} bytes`)
    case "RoomFull":
      return errorResponse(429, "room_full", `the room is full (${String(error["limit"])} participants)`)
    case "TooManyRooms":
      return errorResponse(
        429,
        "too_many_rooms",
        `the server has reached its limit of ${String(error["limit"])} rooms`
      )
    case "TooManyTracks":
      return errorResponse(
        400,
        "too_many_tracks",
        `the offer publishes ${String(error["count"])} tracks; the limit is ${String(error["limit"])}`
      )
    case "ParticipantNotFound":
      return errorResponse(404, "participant_not_found", "no such participant in this room")
    case "RoomNotFound":
      return errorResponse(404, "room_not_found", "no such room")
    case "EtagMismatch":
      return errorResponse(412, "etag_mismatch", "If-Match does not match the session's current ETag")
    case "MissingIfMatch":
      return errorResponse(428, "if_match_required", "send the session's ETag in If-Match")
    case "RoomBusy":
      return errorResponse(
        503,
        "room_busy",
        "the room is busy and could not take the request in time; retry shortly",
        { "retry-after": String(error["retryAfterSeconds"]) }
      )
    case "ShuttingDown":
      return errorResponse(503, "shutting_down", "the server is shutting down and accepts no joins")
    case "Unauthorized":
      return errorResponse(401, "unauthorized", String(error["message"]))
    case "Forbidden":
      return errorResponse(403, "forbidden", String(error["message"]))
    default:
      return errorResponse(400, "bad_request", error._tag)
  }
}
