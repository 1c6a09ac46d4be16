import { Data, Effect } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import type { ParticipantRole } from "../participant/participant.ts"
import { RoomRegistry } from "../room/room-registry.ts"
import { type AuthorizedAction, Authorizer } from "./authorizer.ts"
import { responseForError } from "./error-response.ts"
import { validRoomName } from "./room-name.ts"
import { readSdpBody } from "./sdp-body.ts"

class MissingIfMatch extends Data.TaggedError("MissingIfMatch")<{}> {}

/** Runs a handler, answering every typed failure with its 4xx JSON error. */
const respond = <E extends { readonly _tag: string }, R>(
  effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
) => effect.pipe(Effect.catch((error) => Effect.succeed(responseForError(error))))

const authorize = (
  request: HttpServerRequest.HttpServerRequest,
  action: AuthorizedAction,
  room: string | undefined,
  participantId: string | undefined
) => Authorizer.use((auth) => auth.authorize({ action, room, participantId, headers: request.headers }))

const sdpAnswer = (answer: string, status: number, headers: Record<string, string>) =>
  HttpServerResponse.text(answer, { status, contentType: "application/sdp", headers })

/**
 * The signaling API: one HTTP POST joins (an SDP offer in, the answer out), PATCH restarts
 * ICE, DELETE leaves. WHIP (RFC 9725) and WHEP resources are the same participants with
 * one direction only.
 */
export const SignalingRoutes = HttpRouter.use(
  Effect.fn(function* (router) {
    const registry = yield* RoomRegistry

    const join =
      (base: (room: string, id: string) => string, role: ParticipantRole) =>
      (request: HttpServerRequest.HttpServerRequest) =>
        respond(
          Effect.gen(function* () {
            const { room: rawRoom } = yield* HttpRouter.params
            const room = yield* validRoomName(rawRoom)
            yield* authorize(request, "join", room, undefined)
            const offer = yield* readSdpBody(request)
            const joined = yield* registry.join(room, role, offer)
            return sdpAnswer(joined.answer, 201, {
              location: base(room, joined.participantId),
              etag: joined.etag
            })
          })
        )

    const patch = (request: HttpServerRequest.HttpServerRequest) =>
      respond(
        Effect.gen(function* () {
          const { room: rawRoom, participant } = yield* HttpRouter.params
          const room = yield* validRoomName(rawRoom)
          yield* authorize(request, "reconnect", room, participant)
          const ifMatch = request.headers["if-match"]
          if (ifMatch === undefined) return yield* new MissingIfMatch()
          const offer = yield* readSdpBody(request)
          const joined = yield* registry.renegotiate(
            room,
            participant ?? "",
            offer,
            ifMatch === "*" ? undefined : ifMatch
          )
          return sdpAnswer(joined.answer, 200, { etag: joined.etag })
        })
      )

    const remove = (request: HttpServerRequest.HttpServerRequest) =>
      respond(
        Effect.gen(function* () {
          const { room: rawRoom, participant } = yield* HttpRouter.params
          const room = yield* validRoomName(rawRoom)
          yield* authorize(request, "leave", room, participant)
          yield* registry.leave(room, participant ?? "")
          return HttpServerResponse.empty({ status: 204 })
        })
      )

    const participants = (room: string, id: string) => `/api/v1/rooms/${room}/participants/${id}`
    yield* router.add("POST", "/api/v1/rooms/:room/participants", join(participants, "participant"))
    yield* router.add("PATCH", "/api/v1/rooms/:room/participants/:participant", patch)
    yield* router.add("DELETE", "/api/v1/rooms/:room/participants/:participant", remove)

    for (const kind of ["whip", "whep"] as const) {
      yield* router.add(
        "POST",
        `/${kind}/:room`,
        join((room, id) => `/${kind}/${room}/${id}`, kind)
      )
      yield* router.add("PATCH", `/${kind}/:room/:participant`, (request) =>
        (request.headers["content-type"] ?? "").startsWith("application/trickle-ice-sdpfrag")
          ? Effect.succeed(
              HttpServerResponse.text(
                JSON.stringify({
                  error: {
                    code: "trickle_not_supported",
                    message:
                      "the server is ICE-lite and does not take trickled candidates; restart ICE with a full offer"
                  }
                }),
                { status: 405, contentType: "application/json", headers: { allow: "POST, DELETE, OPTIONS" } }
              )
            )
          : patch(request)
      )
      yield* router.add("DELETE", `/${kind}/:room/:participant`, remove)
      yield* router.add(
        "OPTIONS",
        `/${kind}/:room`,
        HttpServerResponse.empty({ status: 204, headers: { "accept-post": "application/sdp" } })
      )
    }

    yield* router.add("GET", "/api/v1/rooms", (request) =>
      respond(
        Effect.gen(function* () {
          yield* authorize(request, "read", undefined, undefined)
          const rooms = yield* registry.list
          return yield* HttpServerResponse.json({ rooms }).pipe(Effect.orDie)
        })
      )
    )
    yield* router.add("GET", "/api/v1/rooms/:room", (request) =>
      respond(
        Effect.gen(function* () {
          const { room: rawRoom } = yield* HttpRouter.params
          const room = yield* validRoomName(rawRoom)
          yield* authorize(request, "read", room, undefined)
          const view = yield* registry.view(room)
          return yield* HttpServerResponse.json(view).pipe(Effect.orDie)
        })
      )
    )
  })
)
