import { Logger, References } from "effect"
import type { Trace } from "./trace.ts"

const KEYS = ["room", "participant", "reason"]

/** Writes the server's log lines into the trace (level, message, and the annotations that matter). */
export const traceLogger = (trace: Trace) =>
  Logger.make<unknown, void>(({ message, logLevel, fiber }) => {
    const parts = (Array.isArray(message) ? message : [message]).map((m) => (typeof m === "string" ? m : ""))
    const annotations = fiber.getRef(References.CurrentLogAnnotations)
    const tags = KEYS.flatMap((k) => (annotations[k] === undefined ? [] : [`${k}=${String(annotations[k])}`]))
    trace.record(`log ${logLevel} ${parts.join(" ").trim()} ${tags.join(" ")}`.trimEnd())
  })
