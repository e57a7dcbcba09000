/**
 * Events kept where they were read (a slab adopts the input buffer; a line begun in one read is
 * moved into the room before the next): every boundary case must give the same output as a
 * plain reading of the file, with the fast scanner and without, inline and on worker threads.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, tempDir } from './helpers.js'

const MiB = 1 << 20

function event(i: number, pad: number): string {
  return JSON.stringify({ client_id: `c${i % 7000}`, event_datetime: '2025-04-02T09:00:01.933Z', event_name: 'play', product_id: `p${i % 3}`, sid: 's', r: `${i % 5000}`, pad: 'x'.repeat(pad) })
}

/** What the CLI must output: each line whose six fields were not seen before, as it is, in order. */
function expected(lines: string[]): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const line of lines) {
    const t = line.trim()
    if (t === '') continue
    let e: Record<string, unknown>
    try {
      e = JSON.parse(t) as Record<string, unknown>
    } catch {
      continue
    }
    const key = JSON.stringify(['client_id', 'event_datetime', 'event_name', 'product_id', 'sid', 'r'].map((f) => e[f]))
    if (seen.has(key)) continue
    seen.add(key)
    out.push(t)
  }
  return out
}

/**
 * About 5 MiB of lines of many sizes: short ones, ones of tens of KiB that straddle a 1 MiB read
 * boundary, one longer than the 64 KiB room before a read (it goes the copying way), CRLF
 * endings, blank lines and broken lines, so boundaries fall everywhere.
 */
function input(): { text: string; lines: string[] } {
  const lines: string[] = []
  let size = 0
  let i = 0
  while (size < 5 * MiB) {
    const kind = i % 97
    let line: string
    if (kind === 13) line = event(i, 30_000 + (i % 50_000))
    else if (kind === 41) line = ''
    else if (kind === 59) line = `{"broken": ${i}`
    else if (i === 700) line = event(i, 200_000)
    else line = event(i, (i * 37) % 6000)
    lines.push(line)
    size += line.length + 1
    i++
  }
  const text = lines.map((l, k) => (k % 11 === 5 ? `${l}\r\n` : `${l}\n`)).join('')
  return { text, lines }
}

test('lines across read boundaries, longer than the room before a read, CRLF, blank and broken: output as a plain reading gives', () => {
  const dir = tempDir()
  const { text, lines } = input()
  const path = join(dir, 'events.ndjson')
  writeFileSync(path, text)
  const want = expected(lines)
  const broken = lines.filter((l) => l.startsWith('{"broken"')).length
  for (const threads of ['0', '2']) {
    for (const scanner of ['wasm', 'js']) {
      const r = cli(['--threads', threads, '--quiet', path], undefined, scanner === 'js' ? { KION_DEDUP_SCANNER: 'js' } : {})
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.lines.length, want.length, `threads ${threads}, ${scanner}: unique count`)
      assert.deepEqual(r.lines, want, `threads ${threads}, ${scanner}: output`)
    }
  }
  const stats = join(dir, 'stats.json')
  assert.equal(cli(['--quiet', '--stats-json', stats, path]).status, 0)
  const summary = JSON.parse(readFileSync(stats, 'utf8')) as { rejected: number; unique: number }
  assert.equal(summary.rejected, broken)
  assert.equal(summary.unique, want.length)
})

test('a JSON array across read boundaries gives the same events as its NDJSON twin', () => {
  const dir = tempDir()
  const { lines } = input()
  const valid = lines.filter((l) => l !== '' && !l.startsWith('{"broken"'))
  const path = join(dir, 'events.json')
  writeFileSync(path, `[\n${valid.join(',\n')}\n]\n`)
  const want = expected(valid)
  for (const threads of ['0', '2']) {
    const r = cli(['--threads', threads, '--quiet', path])
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(r.lines, want, `threads ${threads}`)
  }
})
