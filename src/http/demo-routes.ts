import { Clock, Effect, Semaphore } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { buildDemoAssets, type DemoAssets, type DemoBuildFailed, type DemoPath } from "./demo-assets.ts"

const acceptsGzip = (request: HttpServerRequest.HttpServerRequest) =>
  /\bgzip\b/.test(request.headers["accept-encoding"] ?? "")

/** A failed build is retried by a request at most this often (a broken source stays broken). */
const BUILD_RETRY_MS = 10_000

const DEMO_PATHS: ReadonlyArray<DemoPath> = ["/", "/demo.js", "/demo.css", "/prism-client.js"]

/** The page loads only its own script and style, and talks only to this server. */
const PAGE_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

const unavailablePage = (reason: string) =>
  HttpServerResponse.text(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Prism demo unavailable</title></head>` +
      `<body><main><h1>The demo page is unavailable</h1><p>Its script could not be built; the server ` +
      `log has the details. The signaling API works as usual.</p><pre>${escapeHtml(reason)}</pre></main></body></html>`,
    {
      status: 503,
      contentType: "text/html; charset=utf-8",
      headers: { "cache-control": "no-store", "retry-after": String(BUILD_RETRY_MS / 1000) }
    }
  )

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/**
 * The demo page at `/`, its script and style, and the browser SDK at `/prism-client.js`.
 * The bundles are built in memory on the first request and kept; a failed build answers 503
 * and is logged, never taking the server down. Responses carry a strong ETag and must be
 * revalidated (`no-cache`), so a restarted server with new code is picked up at once.
 */
export const makeDemoRoutes = (build: Effect.Effect<DemoAssets, DemoBuildFailed>) =>
  HttpRouter.use(
    Effect.fn(function* (router) {
      const lock = yield* Semaphore.make(1)
      let built: DemoAssets | undefined
      let failure: { readonly error: DemoBuildFailed; readonly atMs: number } | undefined

      const assets = Semaphore.withPermits(
        lock,
        1
      )(
        Effect.gen(function* () {
          if (built !== undefined) return built
          const now = yield* Clock.currentTimeMillis
          if (failure !== undefined && now - failure.atMs < BUILD_RETRY_MS) return yield* failure.error
          const started = now
          return yield* build.pipe(
            Effect.tap((result) =>
              Effect.gen(function* () {
                built = result
                failure = undefined
                const ms = (yield* Clock.currentTimeMillis) - started
                yield* Effect.logInfo("demo page built").pipe(
                  Effect.annotateLogs({
                    ms,
                    demoJsBytes: result["/demo.js"].body.byteLength,
                    sdkBytes: result["/prism-client.js"].body.byteLength
                  })
                )
              })
            ),
            Effect.tapError((error) =>
              Effect.gen(function* () {
                failure = { error, atMs: yield* Clock.currentTimeMillis }
                yield* Effect.logError("the demo page could not be built").pipe(
                  Effect.annotateLogs({ reason: error.reason })
                )
              })
            )
          )
        })
      )

      const serve = (path: DemoPath) => (request: HttpServerRequest.HttpServerRequest) =>
        assets.pipe(
          Effect.map((all) => {
            const file = all[path]
            const headers: Record<string, string> = {
              etag: file.etag,
              "cache-control": "no-cache",
              "x-content-type-options": "nosniff",
              vary: "accept-encoding"
            }
            if (path === "/") headers["content-security-policy"] = PAGE_SECURITY_POLICY
            if (request.headers["if-none-match"] === file.etag) {
              return HttpServerResponse.empty({ status: 304, headers })
            }
            if (acceptsGzip(request)) {
              return HttpServerResponse.uint8Array(file.gzipped, {
                contentType: file.contentType,
                headers: { ...headers, "content-encoding": "gzip" }
              })
            }
            return HttpServerResponse.uint8Array(file.body, { contentType: file.contentType, headers })
          }),
          Effect.catch((error: DemoBuildFailed) => Effect.succeed(unavailablePage(error.reason)))
        )

      for (const path of DEMO_PATHS) yield* router.add("GET", path, serve(path))
      yield* router.add("GET", "/index.html", HttpServerResponse.redirect("/", { status: 301 }))
    })
  )

/** The demo routes with the real build: the SDK and demo bundled from client/. */
export const DemoRoutes = makeDemoRoutes(buildDemoAssets)
