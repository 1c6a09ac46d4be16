import { createHash, type Hash } from "node:crypto"

const TAIL = 400

/**
 * The ordered record of everything that happened in a run, one line per event, each
 * prefixed with the simulated time. Only its SHA-256 and a short tail are kept unless a
 * sink asks for every line: same seed, same lines, same hash.
 */
export class Trace {
  private readonly hash: Hash = createHash("sha256")
  private readonly tailLines: string[] = []
  private digestValue: string | undefined
  lines = 0

  constructor(
    private readonly now: () => number,
    private readonly sink: ((line: string) => void) | undefined = undefined
  ) {}

  record(line: string): void {
    if (this.digestValue !== undefined) return
    const full = `${this.now()} ${line}`
    this.hash.update(full)
    this.hash.update("\n")
    this.lines++
    if (this.tailLines.length >= TAIL) this.tailLines.shift()
    this.tailLines.push(full)
    this.sink?.(full)
  }

  get tail(): ReadonlyArray<string> {
    return this.tailLines
  }

  /** Ends the trace; later records are ignored. */
  digest(): string {
    this.digestValue ??= this.hash.digest("hex")
    return this.digestValue
  }
}
