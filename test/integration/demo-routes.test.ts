import { gunzipSync } from "node:zlib"
import { Effect, type Layer } from "effect"
import { HttpRouter } from "effect/http"
import { afterAll, describe, expect, it } from "vitest"
import { buildDemoAssets, DemoBuildFailed } from "../../src/http/demo-assets.ts"
import { makeDemoRoutes } from "../../src/http/demo-routes.ts"

const handlerFor = (routes: Layer.Layer<never, never, HttpRouter.HttpRouter>) =>
  HttpRouter.toWebHandler(routes, { disableLogger: true })

const get = (
  handler: (r: Request) => Promise<Response>,
  path: string,
  headers: Record<string, string> = {}
) => handler(new Request(`http://localhost${path}`, { headers }))

describe("demo routes", () => {
  let builds = 0
  const real = handlerFor(
    makeDemoRoutes(
      Effect.suspend(() => {
        builds++
        return buildDemoAssets
      })
    )
  )
  afterAll(() => real.dispose())

  it("serves the page, its script and style, and the SDK, with content types and revalidation", async () => {
    const expected = {
      "/": "text/html; charset=utf-8",
      "/demo.js": "text/javascript; charset=utf-8",
      "/demo.css": "text/css; charset=utf-8",
      "/prism-client.js": "text/javascript; charset=utf-8"
    }
    for (const [path, contentType] of Object.entries(expected)) {
      const response = await get(real.handler, path)
      expect(response.status, path).toBe(200)
      expect(response.headers.get("content-type")).toBe(contentType)
      expect(response.headers.get("cache-control")).toBe("no-cache")
      const etag = response.headers.get("etag")
      expect(etag).toMatch(/^"[\w-]+"$/)
      const body = new Uint8Array(await response.arrayBuffer())
      expect(body.byteLength).toBeGreaterThan(100)

      const again = await get(real.handler, path, { "if-none-match": etag ?? "" })
      expect(again.status).toBe(304)
      const zipped = await get(real.handler, path, { "accept-encoding": "gzip, br" })
      expect(zipped.headers.get("content-encoding")).toBe("gzip")
      expect(new Uint8Array(gunzipSync(new Uint8Array(await zipped.arrayBuffer())))).toEqual(body)
    }
    expect(builds).toBe(1)
    const page = await (await get(real.handler, "/")).text()
    expect(page).toContain('<script type="module" src="/demo.js">')
    expect((await get(real.handler, "/")).headers.get("content-security-policy")).toContain(
      "default-src 'self'"
    )
  })

  it("the SDK bundle is an ES module that loads without a DOM and exports the API", async () => {
    const source = await (await get(real.handler, "/prism-client.js")).text()
    const sdk = await import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`)
    expect(typeof sdk.join).toBe("function")
    expect(typeof sdk.Session).toBe("function")
    expect(new sdk.SignalingError(404, "room_not_found", "x")).toBeInstanceOf(Error)
    expect(sdk.SIMULCAST_ENCODINGS.map((e: { rid: string }) => e.rid)).toEqual(["q", "h", "f"])
    // Both bundles stay small enough for a page: well under 200 KB minified.
    expect(source.length).toBeLessThan(200_000)
  })

  it("a failed build answers 503 with the reason escaped, is not retried at once, and nothing crashes", async () => {
    let attempts = 0
    const failing = handlerFor(
      makeDemoRoutes(
        Effect.suspend(() => {
          attempts++
          return Effect.fail(new DemoBuildFailed({ reason: "client/demo/demo.ts:3: <Unexpected> token" }))
        })
      )
    )
    try {
      for (const path of ["/", "/demo.js", "/prism-client.js"]) {
        const response = await get(failing.handler, path)
        expect(response.status).toBe(503)
        expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8")
        expect(response.headers.get("cache-control")).toBe("no-store")
        const text = await response.text()
        expect(text).toContain("&#60;Unexpected&#62; token")
        expect(text).not.toContain("<Unexpected>")
      }
      expect(attempts).toBe(1)
    } finally {
      await failing.dispose()
    }
  })

  it("unknown paths are not the demo's", async () => {
    expect((await get(real.handler, "/demo.ts")).status).toBe(404)
    expect((await get(real.handler, "/../package.json")).status).toBe(404)
  })
})
