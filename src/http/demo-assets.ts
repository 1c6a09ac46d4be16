import { createHash } from "node:crypto"
import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import { Data, Effect } from "effect"

/** One file the demo serves: its bytes (plain and gzipped), content type and strong ETag. */
export interface DemoAsset {
  readonly body: Uint8Array
  readonly gzipped: Uint8Array
  readonly contentType: string
  readonly etag: string
}

/** The demo page, its script and style, and the SDK as an ES module for other pages. */
export interface DemoAssets {
  readonly "/": DemoAsset
  readonly "/demo.js": DemoAsset
  readonly "/demo.css": DemoAsset
  readonly "/prism-client.js": DemoAsset
}

export type DemoPath = keyof DemoAssets

export class DemoBuildFailed extends Data.TaggedError("DemoBuildFailed")<{ readonly reason: string }> {}

const CLIENT_DIR = fileURLToPath(new URL("../../client/", import.meta.url))

/** Browsers the bundle targets: what shipped WebRTC simulcast and `RTCRtpSender.setParameters`. */
const BROWSER_TARGETS = ["chrome109", "firefox115", "safari16"]

/**
 * The shared protocol file imports `{ Schema } from "effect"`. Through the package index the
 * bundler cannot drop what the Schema calls do not use, so in the browser bundle that import
 * is read as the Schema module itself: 93 KB instead of 330 KB (minified). Any other import
 * is left as it is (a bigger bundle, still correct).
 */
const SCHEMA_FROM_INDEX = 'import { Schema } from "effect"'
const schemaModuleOnly = {
  name: "schema-module-only",
  setup(build: {
    onLoad(
      options: { filter: RegExp },
      callback: (args: { path: string }) => Promise<{ contents: string; loader: "ts" }>
    ): void
  }) {
    build.onLoad({ filter: /[\\/]src[\\/]protocol[\\/][^\\/]+\.ts$/ }, async ({ path }) => ({
      contents: (await readFile(path, "utf8")).replace(
        SCHEMA_FROM_INDEX,
        'import * as Schema from "effect/Schema"'
      ),
      loader: "ts"
    }))
  }
}

const asset = (body: Uint8Array, contentType: string): DemoAsset => ({
  body,
  gzipped: gzipSync(body, { level: 9 }),
  contentType,
  etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`
})

const describeBuildError = (error: unknown): string => {
  const errors = (
    error as { errors?: ReadonlyArray<{ text: string; location?: { file: string; line: number } }> }
  ).errors
  if (Array.isArray(errors) && errors.length > 0) {
    return errors
      .map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text))
      .join("; ")
  }
  return error instanceof Error ? error.message : String(error)
}

/**
 * Bundles the SDK and the demo script with esbuild, in memory, and reads the page and its
 * style sheet. esbuild is loaded only here, so a server that never serves the demo never
 * starts its service process.
 */
export const buildDemoAssets: Effect.Effect<DemoAssets, DemoBuildFailed> = Effect.tryPromise({
  try: async () => {
    const esbuild = await import("esbuild")
    const result = await esbuild.build({
      absWorkingDir: CLIENT_DIR,
      entryPoints: { demo: "demo/demo.ts", "prism-client": "src/index.ts" },
      bundle: true,
      format: "esm",
      platform: "browser",
      target: BROWSER_TARGETS,
      minify: true,
      legalComments: "none",
      write: false,
      outdir: "out",
      logLevel: "silent",
      plugins: [schemaModuleOnly]
    })
    const output = (name: string): Uint8Array => {
      const file = result.outputFiles.find((f) => f.path.endsWith(`/out/${name}`))
      if (file === undefined) throw new Error(`esbuild produced no ${name}`)
      return file.contents
    }
    const [html, css] = await Promise.all([
      readFile(`${CLIENT_DIR}demo/index.html`),
      readFile(`${CLIENT_DIR}demo/demo.css`)
    ])
    const javascript = "text/javascript; charset=utf-8"
    return {
      "/": asset(html, "text/html; charset=utf-8"),
      "/demo.js": asset(output("demo.js"), javascript),
      "/demo.css": asset(css, "text/css; charset=utf-8"),
      "/prism-client.js": asset(output("prism-client.js"), javascript)
    }
  },
  catch: (error) => new DemoBuildFailed({ reason: describeBuildError(error) })
})
