// Baseline: stream-json's parser + StreamArray over a JSON-array file, with the same Set logic
// as readline.mjs. stream-json is the usual answer for "a JSON array too big for JSON.parse";
// this measures what its token-by-token assembly costs. A unique event is re-serialised (as
// NDJSON output needs) and goes to /dev/null; the unique count goes to stdout.
// Usage: node bench/baselines/stream-json.mjs FILE.json
import { createReadStream, createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { pipeline } from 'node:stream/promises'
import { streamArray } from 'stream-json/streamers/stream-array.js'

const seen = new Set()
const sink = createWriteStream('/dev/null')
let unique = 0
await pipeline(createReadStream(process.argv[2]), streamArray.withParserAsStream(), async (items) => {
  for await (const { value: e } of items) {
    const key = `${e.client_id}\u0001${e.event_datetime}\u0001${e.event_name}\u0001${e.product_id}\u0001${e.sid}\u0001${e.r}`
    if (seen.has(key)) continue
    seen.add(key)
    unique++
    if (!sink.write(JSON.stringify(e) + '\n')) await once(sink, 'drain')
  }
})
sink.end()
await once(sink, 'finish')
process.stdout.write(`${unique}\n`)
