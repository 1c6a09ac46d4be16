import { Data } from "effect"

/** Client mistakes the HTTP edge turns into 4xx responses (see src/http/error-response.ts). */

export class InvalidRoomName extends Data.TaggedError("InvalidRoomName")<{ readonly room: string }> {}
export class InvalidOffer extends Data.TaggedError("InvalidOffer")<{ readonly reason: string }> {}
export class RoomFull extends Data.TaggedError("RoomFull")<{
  readonly room: string
  readonly limit: number
}> {}
export class TooManyRooms extends Data.TaggedError("TooManyRooms")<{ readonly limit: number }> {}
export class TooManyTracks extends Data.TaggedError("TooManyTracks")<{
  readonly count: number
  readonly limit: number
}> {}
export class ParticipantNotFound extends Data.TaggedError("ParticipantNotFound")<{
  readonly room: string
  readonly participantId: string
}> {}
export class RoomNotFound extends Data.TaggedError("RoomNotFound")<{ readonly room: string }> {}
export class EtagMismatch extends Data.TaggedError("EtagMismatch")<{ readonly expected: string }> {}
export class ShuttingDown extends Data.TaggedError("ShuttingDown")<{}> {}
/**
 * The room (or the participant's session) could not take the request in time: its queue for
 * that kind of request is full or it did not get to it before the deadline. Retry shortly.
 */
export class RoomBusy extends Data.TaggedError("RoomBusy")<{
  readonly room: string
  readonly retryAfterSeconds: number
}> {}
/** A room that closed between lookup and use; the registry retries on a fresh room. */
export class RoomClosed extends Data.TaggedError("RoomClosed")<{ readonly room: string }> {}

export type JoinError = InvalidOffer | RoomFull | TooManyTracks | TooManyRooms | ShuttingDown | RoomBusy
