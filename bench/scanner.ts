/**
 * @module Micro-benchmarks behind the scanner's design choices, on the bench data:
 * `node dist/bench/scanner.js [file.ndjson]` (after `npm run bench` has made the data).
 * Prints µs per event for the scanner and for JSON.parse, and GB/s of the two string loops.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JsonScanner } from '../src/framing/json-scanner.js'
import { DEFAULT_KEY_FIELDS } from '../src/key/canonical.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const dataDir = join(root, 'bench', 'data')
const file = process.argv[2] ?? join(dataDir, readdirSync(dataDir).filter((f) => f.endsWith('.ndjson')).sort().pop() ?? '')
const buf = readFileSync(file)
const lines: Array<[number, number]> = []
for (let p = 0; lines.length < 20_000; ) {
  const nl = buf.indexOf(10, p)
  if (nl < 0) break
  lines.push([p, nl])
  p = nl + 1
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
}

function time(rounds: number, f: () => void): number {
  const out: number[] = []
  f() // warm-up
  for (let r = 0; r < rounds; r++) {
    const t = process.hrtime.bigint()
    f()
    out.push(Number(process.hrtime.bigint() - t))
  }
  return median(out)
}

const scanner = new JsonScanner(DEFAULT_KEY_FIELDS)
const scanNs = time(5, () => {
  for (const [s, e] of lines) scanner.scan(buf, s, e)
})
const parseNs = time(3, () => {
  for (const [s, e] of lines) JSON.parse(buf.toString('utf8', s, e))
})

// The string loop: the scanner itself on one event whose value is a 4.7 KB string (its
// four-bytes-at-a-time loop), against a plain byte loop over the same bytes.
const STOP = new Uint8Array(256)
for (let c = 0; c < 0x20; c++) STOP[c] = 1
STOP[0x22] = 1
STOP[0x5c] = 1
const longString = Buffer.from(JSON.stringify({ k: 'x'.repeat(4700) }))
function byteLoop(b: Uint8Array, i: number, lim: number): number {
  while (i < lim && STOP[b[i]] === 0) i++
  return i
}
const stringScanner = new JsonScanner(['k'])
const reps = 20_000
const byteNs = time(5, () => {
  for (let r = 0; r < reps; r++) byteLoop(longString, 6, longString.length)
})
const wordNs = time(5, () => {
  for (let r = 0; r < reps; r++) stringScanner.scan(longString, 0, longString.length)
})
const gbps = (ns: number) => ((longString.length * reps) / ns).toFixed(2)

console.log(`file: ${file}, ${lines.length} events`)
console.log(`scanner (validate + find key fields): ${(scanNs / lines.length / 1000).toFixed(2)} µs/event`)
console.log(`JSON.parse (whole object):            ${(parseNs / lines.length / 1000).toFixed(2)} µs/event`)
console.log(`string loop, byte at a time:                   ${gbps(byteNs)} GB/s`)
console.log(`scanner on one long string (4 bytes at a time): ${gbps(wordNs)} GB/s`)
