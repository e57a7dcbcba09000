// Baseline: the plain Node script one would write first. readline splits lines, JSON.parse
// decodes each whole event, and a Set of the six key fields joined into a string remembers
// keys. Unique lines go to /dev/null (the output's cost without a disk's); the unique count
// goes to stdout for the harness to check against the generator's.
// Usage: node bench/baselines/readline.mjs FILE.ndjson
import { createReadStream, createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { once } from 'node:events'

const seen = new Set()
const sink = createWriteStream('/dev/null')
let unique = 0
const lines = createInterface({ input: createReadStream(process.argv[2]), crlfDelay: Infinity })
for await (const line of lines) {
  if (line === '') continue
  const e = JSON.parse(line)
  // \u0001 cannot occur in these fields, so the join is unambiguous for this data.
  const key = `${e.client_id}\u0001${e.event_datetime}\u0001${e.event_name}\u0001${e.product_id}\u0001${e.sid}\u0001${e.r}`
  if (seen.has(key)) continue
  seen.add(key)
  unique++
  if (!sink.write(line + '\n')) await once(sink, 'drain')
}
sink.end()
await once(sink, 'finish')
process.stdout.write(`${unique}\n`)
