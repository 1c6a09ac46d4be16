import { checkSeed } from "./check.ts"

/**
 * The long search: `npm run sim:sweep -- --from <n> --count <k>` runs k generated scenarios
 * from seed n (default 1000 and 2000) and prints every failure with its shrunk scenario.
 */
const argv = process.argv.slice(2)
const option = (name: string, fallback: number) => {
  const index = argv.indexOf(`--${name}`)
  return index >= 0 ? Number(argv[index + 1]) : fallback
}
const from = option("from", 1000)
const count = option("count", 2000)
let failures = 0
for (let seed = from; seed < from + count; seed++) {
  const outcome = await checkSeed(seed)
  if (!outcome.ok) {
    failures++
    console.log(outcome.message)
  }
  if ((seed - from + 1) % 100 === 0) console.log(`${seed - from + 1}/${count} seeds, ${failures} failing`)
}
console.log(`swept seeds ${from}..${from + count - 1}: ${failures} failing`)
process.exitCode = failures === 0 ? 0 : 1
