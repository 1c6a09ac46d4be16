import { spawn } from "node:child_process"

export interface ReadStorm {
  /** Fires every read at once; resolves with their statuses (0: no answer). */
  readonly fire: () => Promise<ReadonlyArray<number>>
}

const SCRIPT = `
  const url = process.argv[1], count = Number(process.argv[2])
  process.stdin.once("data", () => {
    Promise.all(Array.from({ length: count }, () =>
      fetch(url).then(async (r) => { await r.arrayBuffer(); return r.status }, () => 0)
    )).then((statuses) => process.stdout.write(JSON.stringify(statuses) + "\\n"))
  })
  process.stdout.write("ready\\n")
`

/**
 * `count` concurrent GETs of `url`, sent from another process so that the client side of the
 * storm does not run on the event loop of the server under test. Resolves once that process is
 * ready to fire.
 */
export const readStorm = (url: string, count: number): Promise<ReadStorm> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", SCRIPT, url, String(count)], {
      stdio: ["pipe", "pipe", "inherit"]
    })
    let output = ""
    let fired: ((statuses: ReadonlyArray<number>) => void) | undefined
    const timer = setTimeout(() => child.kill(), 60_000)
    child.once("error", reject)
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      const lines = output.split("\n")
      if (lines[0] === "ready" && fired === undefined && lines.length > 1) {
        resolve({
          fire: () =>
            new Promise((done) => {
              fired = done
              child.stdin.write("go\n")
            })
        })
      }
      if (lines.length > 2 && fired) {
        clearTimeout(timer)
        fired(JSON.parse(lines[1]!) as number[])
        child.stdin.end()
      }
    })
  })
