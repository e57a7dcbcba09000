/** The CLI against a plain reference model on random streams with retries in many spellings. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { prng } from '../src/generate/synthetic.js'
import { cli } from './helpers.js'

const FIELDS = ['client_id', 'event_datetime', 'event_name', 'product_id', 'sid', 'r']

/** Values whose doubles are exact, so the model may compare parsed values; each with several spellings. */
const VALUES: Array<{ value: unknown; spellings: string[] }> = [
  { value: 'a', spellings: ['"a"', '"\\u0061"'] },
  { value: 'a/b', spellings: ['"a/b"', '"a\\/b"'] },
  { value: 'é', spellings: ['"é"', '"\\u00e9"', '"\\u00E9"'] },
  { value: '1', spellings: ['"1"'] },
  { value: 1, spellings: ['1', '1.0', '10e-1', '0.1E1'] },
  { value: 2.5, spellings: ['2.5', '25e-1', '2.50'] },
  { value: 0, spellings: ['0', '-0', '0.0'] },
  { value: true, spellings: ['true'] },
  { value: null, spellings: ['null'] },
  { value: '', spellings: ['""'] },
  { value: 'a|b', spellings: ['"a|b"'] },
  { value: 'b|c', spellings: ['"b|c"'] },
]

function modelKey(event: Record<string, unknown>): string {
  return JSON.stringify(FIELDS.map((f) => [typeof event[f], event[f]]))
}

for (const [seed, threads] of [[1, 0], [2, 0], [3, 1], [4, 2], [5, 2], [6, 0]]) {
  test(`random stream ${seed}, ${threads} key threads: output equals the reference model's first occurrences, byte for byte`, () => {
    const rand = prng(seed)
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]
    const lines: string[] = []
    const events: Array<Array<{ field: string; v: number }>> = []
    for (let n = 0; n < 3000; n++) {
      let members: Array<{ field: string; v: number }>
      if (events.length > 0 && rand() < 0.3) members = pick(events)
      else {
        // A small value space, so that independent events also collide on keys now and then.
        members = FIELDS.map((field) => ({ field, v: Math.floor(rand() * (field === 'r' ? VALUES.length : 3)) }))
        events.push(members)
      }
      const order = [...members, { field: 'dt_add', v: -1 }].sort(() => rand() - 0.5)
      const sp = rand() < 0.5 ? '' : ' '
      const body = order.map(({ field, v }) => `"${field}"${sp}:${sp}${v < 0 ? `"${n}"` : pick(VALUES[v].spellings)}`).join(`,${sp}`)
      lines.push(rand() < 0.02 ? `{${body}` : `{${body}}`)
    }
    const seen = new Set<string>()
    const expected: string[] = []
    let rejected = 0
    for (const line of lines) {
      let event: Record<string, unknown>
      try {
        event = JSON.parse(line) as Record<string, unknown>
      } catch {
        rejected++
        continue
      }
      const key = modelKey(event)
      if (!seen.has(key)) {
        seen.add(key)
        expected.push(line)
      }
    }
    const r = cli(['--quiet', '--threads', String(threads)], lines.join('\n') + '\n')
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.lines.length, expected.length)
    assert.deepEqual(r.lines, expected)
    assert.ok(rejected > 0 && expected.length < lines.length - rejected, 'the stream had rejects and duplicates')
  })
}
