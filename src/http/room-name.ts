import { Effect } from "effect"
import { InvalidRoomName } from "../room/errors.ts"

const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/

export const validRoomName = (room: string | undefined) =>
  room !== undefined && ROOM_NAME.test(room)
    ? Effect.succeed(room)
    : Effect.fail(new InvalidRoomName({ room: room ?? "" }))
