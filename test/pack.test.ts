/**
 * The package as a user gets it: `npm pack`, installed into an empty folder elsewhere, must give a
 * working `npx kion-dedup` and `import { Deduplicator } from 'kion-dedup'`, from plain JavaScript
 * and from TypeScript (type-checked against the shipped .d.ts).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync, type SpawnSyncOptions } from 'node:child_process'
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, FIXTURES, tempDir } from './helpers.js'

function run(command: string, args: string[], options: SpawnSyncOptions): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options })
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) }
}

function ok(r: { status: number | null; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.status, 0, `${what} failed:\n${r.stderr}\n${r.stdout}`)
  return r.stdout
}

const USE = `
import { Deduplicator, DedupError } from 'kion-dedup'
const dedup = await Deduplicator.open({ window: '7d' })
const event = { client_id: 'c1', event_datetime: '2026-12-01 10:00:00', event_name: 'play', product_id: 42, sid: 's1', r: 7 }
const first = await dedup.check(event)
const again = await dedup.checkMany([JSON.stringify(event), '{"not":"an event"}'])
await dedup.close()
console.log(JSON.stringify({ first: first.status, again: again.map((r) => r.status), key: first.key, typed: new DedupError('x') instanceof Error }))
`

const USE_TS = `
import { Deduplicator, type CheckResult, type DeduplicatorOptions } from 'kion-dedup'
const options: DeduplicatorOptions = { window: '7d', clock: 'ingest' }
const dedup = await Deduplicator.open(options)
const result: CheckResult = await dedup.check(Buffer.from('{"client_id":"c1","event_datetime":"2026-12-01 10:00:00","event_name":"play","product_id":42,"sid":"s1","r":7}'))
// The result type narrows on status: a duplicate has firstSeen, a rejected event a reason.
const summary: string = result.status === 'rejected' ? result.reason : result.key
await dedup.close()
console.log(JSON.stringify({ status: result.status, summary }))
`

test('npm pack, installed into an empty folder: npx kion-dedup, and the library from JavaScript and TypeScript', () => {
  const work = tempDir()
  // --ignore-scripts: prepare would rebuild dist/ under the running tests; npm test has just built it.
  ok(run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT }), 'npm pack')
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))
  assert.ok(tarball !== undefined, 'npm pack wrote a tarball')
  const app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  ok(run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', join(work, tarball)], { cwd: app }), 'npm install of the tarball')

  const main = ok(run('npx', ['--no', 'kion-dedup', '--quiet', join(FIXTURES, 'events.ndjson')], { cwd: app }), 'npx kion-dedup')
  assert.equal(main.split('\n').filter((l) => l !== '').length, 149)

  writeFileSync(join(app, 'use.mjs'), USE)
  const js = JSON.parse(ok(run(process.execPath, ['use.mjs'], { cwd: app }), 'the library from JavaScript')) as { first: string; again: string[]; key: string; typed: boolean }
  assert.deepEqual(js, { first: 'unique', again: ['duplicate', 'rejected'], key: js.key, typed: true })
  assert.match(js.key, /^[0-9a-f]{32}$/)

  writeFileSync(join(app, 'use.ts'), USE_TS)
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'], outDir: 'out' },
      files: ['use.ts'],
    }),
  )
  ok(run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app }), 'tsc over the TypeScript user')
  const ts = JSON.parse(ok(run(process.execPath, [join('out', 'use.js')], { cwd: app }), 'the library from TypeScript')) as { status: string; summary: string }
  assert.equal(ts.status, 'unique')
  assert.equal(ts.summary, js.key, 'the same event gives the same key in both')
})
