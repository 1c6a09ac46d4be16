import { Context, Data, Effect, Layer } from "effect"

export type AuthorizedAction = "join" | "reconnect" | "leave" | "read"

export interface AuthorizationRequest {
  readonly action: AuthorizedAction
  /** undefined for reads across all rooms */
  readonly room: string | undefined
  readonly participantId: string | undefined
  /** lower-cased header names */
  readonly headers: Readonly<Record<string, string | undefined>>
}

export class Unauthorized extends Data.TaggedError("Unauthorized")<{ readonly message: string }> {}
export class Forbidden extends Data.TaggedError("Forbidden")<{ readonly message: string }> {}

/**
 * Consulted by the HTTP edge before every join, reconnect, leave and admin read. Swap the
 * layer to plug in your own check (a token, a session lookup) without touching the server.
 */
export class Authorizer extends Context.Service<
  Authorizer,
  {
    readonly authorize: (request: AuthorizationRequest) => Effect.Effect<void, Unauthorized | Forbidden>
  }
>()("prism/Authorizer") {
  static readonly allowAll = Layer.succeed(Authorizer, Authorizer.of({ authorize: () => Effect.void }))
}
