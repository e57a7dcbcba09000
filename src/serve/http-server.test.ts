import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { request } from 'node:http'
import { DedupHttpServer, NETWORK_DEFAULTS, type HttpOptions } from './http-server.js'
import { LocalBackend } from './local-backend.js'
import { ServeMetrics } from './metrics.js'
import { MemoryStore } from '../store/memory/index.js'
import { StreamSink } from '../sink/index.js'
import { SLICE_EVENTS } from '../core/dedup-core.js'

const KEY_FIELDS = ['client_id', 'event_datetime', 'event_name', 'product_id', 'sid', 'r']

/** serve as the CLI wires it (memory store, output to a stream), in this process, on a free port. */
async function startServer(out: PassThrough, options: Partial<HttpOptions> = {}): Promise<{ server: DedupHttpServer; port: number }> {
  const backend = new LocalBackend(
    { keying: { keyFields: KEY_FIELDS, allowMissing: false, timeField: null }, clock: 'ingest', maxEventBytes: 1 << 20 },
    new MemoryStore({ windowMs: 7 * 24 * 3600_000 }),
    new StreamSink(out, false, 'the test stream'),
  )
  const server = new DedupHttpServer({ host: '127.0.0.1', port: 0, maxBodyBytes: 64 << 20, logRequests: false, log: () => {}, onFatal: () => {}, token: null, tls: null, ...NETWORK_DEFAULTS, ...options }, backend, new ServeMetrics())
  const { port } = await server.listen()
  return { server, port }
}

function call(port: number, method: string, path: string, body?: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

function event(i: number): string {
  return JSON.stringify({ client_id: `c${i}`, event_datetime: '2026-12-01 10:00:00', event_name: 'play_start', product_id: 'p', sid: 's', r: String(i) })
}

test('a big batch gives other requests their turn: /health, asked once its first slice is out, is answered before the batch', async () => {
  const out = new PassThrough()
  const { server, port } = await startServer(out)
  try {
    const n = 20 * SLICE_EVENTS
    const lines = Array.from({ length: n }, (_, i) => event(i))
    lines[SLICE_EVENTS + 500] = event(3) // a copy, in another slice than its first
    lines[2 * SLICE_EVENTS + 7] = '{"not": "an event"}'
    const answered: string[] = []
    const asked: { health: Promise<{ status: number }> | null } = { health: null }
    // Turns of the event loop from the batch's first output to its answer.
    let turns = 0
    let ticking = false
    const tick = () => {
      turns++
      if (ticking) setImmediate(tick)
    }
    out.on('data', () => {
      if (!ticking) {
        ticking = true
        setImmediate(tick)
      }
      // The batch's first slice is written: the batch is being worked now.
      asked.health ??= call(port, 'GET', '/health').then((r) => {
        answered.push('health')
        return r
      })
    })
    const batch = await call(port, 'POST', '/events', Buffer.from(lines.join('\n'))).then((r) => {
      answered.push('batch')
      ticking = false
      return r
    })
    // Each of the other 19 slices, and each piece of the answer, waits for a turn of its own.
    assert.ok(turns >= 2 * 19, `the event loop turned ${turns} times while the batch was worked`)
    assert.ok(asked.health !== null, 'nothing was written')
    assert.equal((await asked.health).status, 200)
    assert.deepEqual(answered, ['health', 'batch'])

    assert.equal(batch.status, 200)
    const answer = JSON.parse(batch.text) as { unique: number; duplicate: number; rejected: number; results: Array<{ status: string; key?: string; index?: number }> }
    assert.deepEqual([answer.unique, answer.duplicate, answer.rejected], [n - 2, 1, 1])
    assert.equal(answer.results.length, n)
    assert.equal(answer.results[SLICE_EVENTS + 500].status, 'duplicate')
    assert.equal(answer.results[SLICE_EVENTS + 500].key, answer.results[3].key)
    assert.equal(answer.results[2 * SLICE_EVENTS + 7].status, 'rejected')
    assert.equal(answer.results[2 * SLICE_EVENTS + 7].index, 2 * SLICE_EVENTS + 7)
  } finally {
    await server.shutdown()
  }
})

test('a batch answer holds every outcome in order, across slices, and an empty batch none', async () => {
  const out = new PassThrough()
  out.resume()
  const { server, port } = await startServer(out)
  try {
    const n = 2 * SLICE_EVENTS + 1
    const array = '[' + Array.from({ length: n }, (_, i) => event(i % (n - 1))).join(',') + ']'
    const answer = JSON.parse((await call(port, 'POST', '/events', Buffer.from(array))).text) as { unique: number; duplicate: number; results: Array<{ status: string }> }
    assert.deepEqual([answer.unique, answer.duplicate, answer.results.length], [n - 1, 1, n])
    assert.deepEqual(
      answer.results.map((r, i) => (r.status === 'duplicate' ? i : -1)).filter((i) => i >= 0),
      [n - 1],
    )
    assert.deepEqual(JSON.parse((await call(port, 'POST', '/events', Buffer.from('[]'))).text), { unique: 0, duplicate: 0, rejected: 0, results: [] })
  } finally {
    await server.shutdown()
  }
})
