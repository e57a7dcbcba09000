/** `kion-dedup replay` end to end: against a real serve, and against deliberately wrong or slow servers. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, FIXTURES, cliAsync } from './helpers.js'

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { unique: number }

/** Runs the CLI without blocking the event loop (the test's own servers must keep answering). */
function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = cliAsync(args)
    child.stdin.end()
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

async function fakeServer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => handler(req, res, body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }
}

async function realServe(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--out', '/dev/null'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  const port = await new Promise<number>((resolve) => {
    child.stderr.on('data', (b: Buffer) => {
      log += b.toString()
      const m = /"port":(\d+)/.exec(log)
      if (m) resolve(Number(m[1]))
    })
  })
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') }
}

test('replay against serve: every request answered, each fixture key unique exactly once, the JSON summary complete', async () => {
  const s = await realServe()
  try {
    const r = await run(['replay', '--url', s.url, '--rps', '400', '--count', '600', '--dup-rate', '0.2', '--json'])
    assert.equal(r.status, 0, r.stderr + r.stdout)
    const j = JSON.parse(r.stdout) as Record<string, any>
    assert.equal(j.requests, 600)
    assert.equal(j.completed, 600)
    assert.deepEqual(j.status, { '200': 600 })
    assert.equal(j.answers.unique, expected.unique)
    assert.equal(j.answers.unique + j.answers.duplicate, 600)
    assert.deepEqual(j.correctness, { keys: expected.unique, unique_twice: 0, never_unique: 0, wrong_keys: 0, ok: true })
    for (const p of ['p50', 'p90', 'p99', 'p999', 'max']) assert.ok(j.latency_ms[p] > 0, p)
    // Batches go to /events; the same server now knows every key: all duplicates, which replay calls wrong.
    const again = await run(['replay', '--url', s.url, '--rps', '200', '--count', '20', '--batch', '10', '--json'])
    assert.equal(again.status, 1)
    const k = JSON.parse(again.stdout) as Record<string, any>
    assert.equal(k.answers.duplicate, 200)
    assert.equal(k.correctness.never_unique, 149)
  } finally {
    s.stop()
  }
})

test('replay catches a wrong server: one that calls everything unique (with the wrong key) fails the run', async () => {
  const { url, server } = await fakeServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ status: 'unique', key: '00000000000000000000000000000000' }))
  })
  try {
    const r = await run(['replay', '--url', url, '--rps', '500', '--count', '300'])
    assert.equal(r.status, 1)
    assert.match(r.stdout, /WRONG: \d+ keys answered unique more than once, 0 never unique, 300 answers with a wrong key/)
  } finally {
    server.close()
  }
})

test('replay is open loop: a stalled server shows in latency from the scheduled start, and held-back requests are counted late', async () => {
  // Answers each request 200 ms after it arrives; with one connection, requests scheduled every 20 ms must queue.
  const { url, server } = await fakeServer((_req, res) => {
    setTimeout(() => {
      res.writeHead(503, { 'retry-after': '1' })
      res.end('{}')
    }, 200)
  })
  try {
    const r = await run(['replay', '--url', url, '--rps', '50', '--count', '10', '--concurrency', '1', '--json'])
    const j = JSON.parse(r.stdout) as Record<string, any>
    assert.equal(j.completed, 10)
    assert.equal(j.errors.http, 10)
    assert.deepEqual(j.status, { '503': 10 })
    // The last request was due at 180 ms but could only go at ~1800 ms: ~1.8 s from its schedule, not 200 ms.
    assert.ok(j.latency_ms.max > 1500, `max ${j.latency_ms.max} ms`)
    assert.ok(j.sent_late >= 8, `late ${j.sent_late}`)
  } finally {
    server.close()
  }
})

test('replay --find-max ramps until a step fails and names the last rate held', async () => {
  // The first 100 requests are answered, then every one is a 503: by count, not by rate, so
  // what the server does never depends on how fast this machine runs. Steps: 20, 25, 31, 39/s
  // for 1 s each (20, 45, 76, 115 requests in all): the fourth one meets the 503s.
  let answered = 0
  const { url, server } = await fakeServer((_req, res) => {
    answered++
    res.writeHead(answered > 100 ? 503 : 200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ status: 'duplicate', key: 'x' }))
  })
  try {
    // A loose --slo: latency on a loaded machine must not end the ramp; only errors and the rate do.
    const r = await run(['replay', '--url', url, '--rps', '20', '--step', '1s', '--slo', '30s', '--find-max', '--json'])
    type Step = { target_rps: number; achieved_rps: number; errors: { timeout: number; connection: number; http: number } }
    const j = JSON.parse(r.stdout) as { max_rps: number | null; steps: Step[] }
    const targets = j.steps.map((s) => s.target_rps)
    const held = (s: Step) => s.errors.timeout + s.errors.connection + s.errors.http === 0 && s.achieved_rps >= 0.95 * s.target_rps
    // The ramp: x1.25 a step, from --rps; it goes on while steps are held and stops at the first that is not.
    assert.deepEqual(targets, [20, 25, 31, 39].slice(0, targets.length), JSON.stringify(targets))
    assert.ok(j.steps.slice(0, -1).every(held), `every step before the last was held: ${JSON.stringify(j.steps)}`)
    assert.ok(!held(j.steps[j.steps.length - 1]), 'the last step was not held')
    // The answer names the last rate held (none when the first step already failed).
    assert.equal(j.max_rps, j.steps.length >= 2 ? j.steps[j.steps.length - 2].target_rps : null)
    // Past 100 requests every answer is an error: the ramp can never get beyond the fourth step.
    assert.ok(j.steps.length <= 4)
    if (j.steps.length === 4) assert.ok(j.steps[3].errors.http > 0, 'the fourth step met the 503s')
  } finally {
    server.close()
  }
})

test('replay: a request that times out after its headers arrived is counted once, and nothing is left unsent', async () => {
  let seen = 0
  const { url, server } = await fakeServer((_req, res) => {
    seen++
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{')
  })
  try {
    const r = await run(['replay', '--url', url, '--rps', '200', '--count', '40', '--concurrency', '20', '--timeout', '300ms', '--json'])
    const j = JSON.parse(r.stdout) as { completed: number; status: Record<string, number>; errors: { timeout: number } }
    assert.equal(j.completed, 40)
    assert.equal(Object.values(j.status).reduce((a, b) => a + b, 0), 40)
    assert.equal(j.errors.timeout, 40)
    assert.equal(seen, 40, 'every request reached the server')
  } finally {
    server.closeAllConnections()
    server.close()
  }
})

test('replay where nothing listens: exit 1 and a line saying so; a bad --url is a usage error', async () => {
  const none = await run(['replay', '--url', 'http://127.0.0.1:1', '--rps', '100', '--count', '5'])
  assert.equal(none.status, 1)
  assert.match(none.stderr, /no request was answered by http:\/\/127\.0\.0\.1:1/)
  assert.match(none.stdout, /connection: 5/)
  const bad = await run(['replay', '--url', 'notaurl', '--count', '5'])
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /bad --url "notaurl"/)
})
