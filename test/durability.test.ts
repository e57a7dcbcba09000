/** What survives a process that dies: the --state lock, torn output tails, reservations in Redis, checkpoints. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { spawnSync, execFileSync } from 'node:child_process'
import { open } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { FIXTURES, cli, cliAsync, tempDir } from './helpers.js'
import { serve, post, outputLines } from './support/serve.js'
import { startRedis } from './support/redis-server.js'

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { read: number; unique: number }

const fixture = join(FIXTURES, 'events.ndjson')

test('--state is locked: a second run on the same state file fails at once naming the holder; a dead holder\'s lock is taken over', async () => {
  const dir = tempDir()
  const state = join(dir, 'week.state')
  // The first run holds the lock while its stdin stays open.
  const first = cliAsync(['--state', state, '--quiet'])
  let firstErr = ''
  first.stderr.on('data', (b: Buffer) => (firstErr += b.toString()))
  const exited = new Promise<number | null>((resolve) => first.on('close', resolve))
  first.stdout.resume()
  first.stdin.write(readFileSync(fixture))
  // The lock exists once the first run has opened its store.
  for (let i = 0; i < 600 && !existsSync(`${state}.lock`); i++) await new Promise((resolve) => setTimeout(resolve, 50))
  assert.ok(existsSync(`${state}.lock`), 'the first run took the lock')
  const second = cli([fixture, '--state', state, '--quiet'])
  assert.equal(second.status, 1)
  assert.match(second.stderr, new RegExp(`week\\.state is in use by process ${first.pid} on ${hostname()} since `))
  assert.equal(second.stdout, '', 'nothing output by the refused run')
  first.stdin.end()
  assert.equal(await exited, 0, firstErr)
  assert.ok(!existsSync(`${state}.lock`), 'released at the end')

  // A lock left by a process that no longer exists (killed) is stale.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid
  writeFileSync(`${state}.lock`, JSON.stringify({ pid: dead, host: hostname(), since: '2026-01-01T00:00:00.000Z' }))
  const third = cli([fixture, '--state', state, '--quiet'])
  assert.equal(third.status, 0, third.stderr)
  assert.equal(third.lines.length, 0, 'the state of the first run was saved and loaded: all seen')
  assert.ok(!existsSync(`${state}.lock`))
})

test('serve --out that ends mid-event is cut back to its last complete line before anything is appended', async () => {
  const out = join(tempDir(), 'unique.ndjson')
  const torn = '{"client_id":"torn by a crash","event_na'
  writeFileSync(out, `{"kept":1}\n${torn}`)
  const s = await serve([], out)
  try {
    const line = readFileSync(fixture, 'utf8').split('\n')[0]
    assert.equal((await post(`${s.url}/event`, line)).status, 200)
  } finally {
    assert.equal(await s.stop(), 0)
  }
  assert.deepEqual(outputLines(out), ['{"kept":1}', readFileSync(fixture, 'utf8').split('\n')[0]])
  assert.match(s.log(), new RegExp(`"msg":"output ended mid-event: cut back to its last complete line".*"cut_bytes":${torn.length}\\}`))
})

test('serve --backend redis killed while its output stalls: the client\'s retry on a new server is answered unique, not duplicate (nothing lost)', async () => {
  const redis = await startRedis()
  const dir = tempDir()
  const fifo = join(dir, 'stalled.fifo')
  execFileSync('mkfifo', [fifo])
  // A reader that opens the pipe and never reads: the first server's writes stall once the pipe is full.
  const reader = open(fifo, 'r')
  const args = ['--backend', 'redis', '--redis-url', redis.url, '--key-prefix', 'stall:', '--lease', '2s']
  const body = readFileSync(fixture)
  try {
    const first = await serve(args, fifo)
    const hung = post(`${first.url}/events`, body).catch(() => null)
    // It has taken the events (checked and reserved them) when its output stalls: kill it then.
    for (let i = 0; i < 2000 && !/kion_store_keys\{[^}]*\} [1-9]/.test(await metricsOf(first.url)); i++) await new Promise((resolve) => setTimeout(resolve, 5))
    assert.match(await metricsOf(first.url), /kion_store_keys\{[^}]*\} 149/)
    first.child.kill('SIGKILL')
    assert.equal(await hung, null, 'never answered')
    await first.exited

    const out = join(dir, 'unique.ndjson')
    const second = await serve(args, out)
    let r = await post(`${second.url}/events`, body)
    // Held by the dead server until its lease runs out: 503 meanwhile, never "duplicate".
    for (let i = 0; i < 200 && r.status === 503; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      r = await post(`${second.url}/events`, body)
    }
    assert.equal(r.status, 200, JSON.stringify(r.json))
    assert.equal(r.json.unique, expected.unique)
    assert.equal((await post(`${second.url}/events`, body)).json.duplicate, expected.read)
    assert.equal(await second.stop(), 0)
    assert.equal(outputLines(out).length, expected.unique)
  } finally {
    await (await reader).close()
    await redis.dispose()
  }
})

async function metricsOf(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text()
}
