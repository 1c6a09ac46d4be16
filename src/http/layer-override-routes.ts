import { Effect } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { RoomRegistry } from "../room/room-registry.ts"
import { errorResponse, responseForError } from "./error-response.ts"
import { validRoomName } from "./room-name.ts"

const PATH = "/debug/rooms/:room/participants/:participant/slots/:mid/layer"

/**
 * Operator and test hook on the internal port: pin one subscriber's video slot to a simulcast
 * layer (`PUT …/layer/:rid`; layers without rids, signalled by an SSRC group, by their index
 * among the flowing layers, lowest first), or hand it back to the bandwidth allocator
 * (`DELETE …/layer`). The switch still waits for a keyframe of that layer, as every switch does.
 */
export const LayerOverrideRoutes = HttpRouter.use(
  Effect.fn(function* (router) {
    const registry = yield* RoomRegistry
    const force = (rid: string | undefined) =>
      Effect.gen(function* () {
        const params = yield* HttpRouter.params
        const room = yield* validRoomName(params["room"])
        const applied = yield* registry.forceLayer(
          room,
          params["participant"] ?? "",
          params["mid"] ?? "",
          rid
        )
        return applied
          ? HttpServerResponse.empty({ status: 204 })
          : errorResponse(
              409,
              "layer_not_available",
              "the slot has no track, or no flowing layer with that rid (or index)"
            )
      }).pipe(Effect.catch((error) => Effect.succeed(responseForError(error as { readonly _tag: string }))))
    yield* router.add("PUT", `${PATH}/:rid`, () =>
      HttpRouter.params.pipe(Effect.flatMap((params) => force(params["rid"])))
    )
    yield* router.add("DELETE", PATH, () => force(undefined))
  })
)
