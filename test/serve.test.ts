/** `kion-dedup serve` end to end: the built CLI on a free loopback port, real HTTP, real Redis where it matters. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { FIXTURES, cli, tempDir } from './helpers.js'
import { serve, post, outputLines, type Served } from './support/serve.js'
import { startRedis } from './support/redis-server.js'

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { read: number; unique: number; duplicate: number }
const fixtureLines = readFileSync(join(FIXTURES, 'events.ndjson'), 'utf8').split('\n').filter((l) => l !== '')

test('serve: every answer: 200 unique/duplicate, 400 with the position, 422 naming the field, 413, 404, 405, health, ready, metrics', async () => {
  const s = await serve(['--max-body', '16k'])
  try {
    const first = await post(`${s.url}/event`, fixtureLines[0])
    assert.equal(first.status, 200)
    assert.equal(first.json.status, 'unique')
    assert.match(String(first.json.key), /^[0-9a-f]{32}$/)
    const again = await post(`${s.url}/event`, fixtureLines[0])
    assert.deepEqual(again.json, { status: 'duplicate', key: first.json.key })

    const bad = await post(`${s.url}/event`, '{"client_id":"c",')
    assert.equal(bad.status, 400)
    assert.match(String(bad.json.error), /invalid JSON.*byte 17/)
    const notObject = await post(`${s.url}/event`, '[1,2]')
    assert.equal(notObject.status, 422)
    assert.match(String(notObject.json.error), /not a JSON object/)
    const missing = await post(`${s.url}/event`, '{"client_id":"c","event_datetime":"t","event_name":"e","product_id":"p","r":"1"}')
    assert.equal(missing.status, 422)
    assert.match(String(missing.json.error), /"sid" is missing/)
    const tooBig = await post(`${s.url}/event`, Buffer.alloc(17 * 1024, 0x20))
    assert.equal(tooBig.status, 413)

    assert.equal((await fetch(`${s.url}/nowhere`)).status, 404)
    const wrongMethod = await fetch(`${s.url}/event`)
    assert.equal(wrongMethod.status, 405)
    assert.equal(wrongMethod.headers.get('allow'), 'POST')
    assert.equal((await fetch(`${s.url}/health`)).status, 200)
    assert.equal((await fetch(`${s.url}/ready`)).status, 200)
    const metrics = await (await fetch(`${s.url}/metrics`)).text()
    assert.match(metrics, /kion_events_total\{result="unique"\} 1\n/)
    assert.match(metrics, /kion_events_total\{result="duplicate"\} 1\n/)
    assert.match(metrics, /kion_events_total\{result="rejected"\} 3\n/)
    assert.match(metrics, /kion_http_request_duration_seconds_count \d+/)
    assert.match(metrics, /kion_store_keys\{backend="memory"\} 1\n/)
    // Only the one unique event reached the output; nothing of the bad requests did.
    assert.equal((await s.stop()) ?? -1, 0)
    assert.deepEqual(outputLines(s.out), [fixtureLines[0]])
  } finally {
    s.child.kill('SIGKILL')
  }
})

test('serve: /events answers per event in order, a bad event at its index without failing the others; the output equals the CLI run', async () => {
  const s = await serve()
  try {
    const withBad = [...fixtureLines.slice(0, 3), '{"broken":', ...fixtureLines.slice(3)]
    const r = await post(`${s.url}/events`, withBad.join('\n') + '\n')
    assert.equal(r.status, 200)
    const results = r.json.results as Array<{ status: string; index?: number; code?: number; key?: string }>
    assert.equal(results.length, withBad.length)
    assert.deepEqual([r.json.unique, r.json.duplicate, r.json.rejected], [expected.unique, expected.duplicate, 1])
    assert.equal(results[3].status, 'rejected')
    assert.equal(results[3].index, 3)
    assert.equal(results[3].code, 400)
    // The same keys, in the same order, as the CLI on the same file.
    const viaCli = cli([join(FIXTURES, 'events.ndjson'), '--emit-key', '-q'])
    const cliKeys = viaCli.lines.map((l) => (JSON.parse(l) as { _key: string })._key)
    const served = results.filter((x) => x.status === 'unique').map((x) => x.key)
    assert.deepEqual(served, cliKeys)
    // A JSON array body: all already seen.
    const arr = await post(`${s.url}/events`, readFileSync(join(FIXTURES, 'events.json')))
    assert.deepEqual([arr.json.unique, arr.json.duplicate, arr.json.rejected], [0, expected.read, 0])
    // Structure broken between events: the whole batch is a 400 with the position, nothing stored.
    const broken = await post(`${s.url}/events`, '[{"a":1} {"b":2}]')
    assert.equal(broken.status, 400)
    assert.match(String(broken.json.error), /byte \d+/)
    assert.equal(await s.stop(), 0)
    // Byte for byte what the CLI writes for the same input.
    assert.deepEqual(outputLines(s.out), cli([join(FIXTURES, 'events.ndjson'), '-q']).lines)
  } finally {
    s.child.kill('SIGKILL')
  }
})

test('serve: events one by one, many at once: answers exact on the fixture, output holds each unique once', async () => {
  const s = await serve()
  try {
    const answers = await Promise.all(fixtureLines.map((l) => post(`${s.url}/event`, l)))
    const unique = answers.filter((a) => a.json.status === 'unique').length
    assert.equal(unique, expected.unique)
    assert.equal(answers.filter((a) => a.json.status === 'duplicate').length, expected.duplicate)
    assert.equal(await s.stop(), 0)
    const keys = new Set(answers.filter((a) => a.json.status === 'unique').map((a) => a.json.key))
    assert.equal(keys.size, expected.unique)
    assert.equal(outputLines(s.out).length, expected.unique)
  } finally {
    s.child.kill('SIGKILL')
  }
})

test('serve: SIGTERM under load loses no acknowledged event, exits 0, and --state keeps what it saw', async () => {
  const dir = tempDir()
  const state = join(dir, 'serve.state')
  const s = await serve(['--state', state])
  const acknowledged: string[] = []
  let stopped: Promise<number | null> | null = null
  const sends = fixtureLines.map(async (line, i) => {
    if (i === 100) stopped = s.stop()
    const r = await post(`${s.url}/event`, line).catch(() => null)
    if (r?.status === 200 && r.json.status === 'unique') acknowledged.push(String(r.json.key))
  })
  await Promise.all(sends)
  assert.equal(await stopped, 0, s.log())
  assert.match(s.log(), /"msg":"stopped"/)
  const written = outputLines(s.out)
  assert.equal(written.length >= acknowledged.length, true)
  // Every acknowledged unique event is in the output: compare through the CLI's keys of the output.
  const outKeys = new Set(cli([s.out, '--emit-key', '-q']).lines.map((l) => (JSON.parse(l) as { _key: string })._key))
  for (const k of acknowledged) assert.ok(outKeys.has(k), `acknowledged ${k} is in the output`)
  // The saved state knows every event written: a CLI run over the output with it finds all seen.
  const rerun = cli([s.out, '--state', state, '-q'])
  assert.equal(rerun.status, 0, rerun.stderr)
  assert.equal(rerun.lines.length, 0)
})

test('serve --backend redis: 503 with Retry-After while Redis is down (nothing acknowledged), /ready says so, and it recovers by itself', async () => {
  const redis = await startRedis({ persistent: true })
  let s: Served | null = null
  try {
    s = await serve(['--backend', 'redis', '--redis-url', redis.url, '--redis-retry', '300ms', '--key-prefix', 'serve:'])
    assert.equal((await post(`${s.url}/event`, fixtureLines[0])).json.status, 'unique')
    await redis.kill()
    const down = await post(`${s.url}/event`, fixtureLines[1])
    assert.equal(down.status, 503)
    assert.equal(down.headers.get('retry-after'), '1')
    assert.equal((await fetch(`${s.url}/ready`)).status, 503)
    await redis.start()
    // The client retries, as told, until the service answers again.
    let retried = down
    for (let i = 0; i < 50 && retried.status === 503; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      retried = await post(`${s.url}/event`, fixtureLines[1])
    }
    assert.equal(retried.status, 200, JSON.stringify(retried.json))
    assert.equal(retried.json.status, 'unique', 'the retried event is not lost as a duplicate')
    assert.equal((await post(`${s.url}/event`, fixtureLines[0])).json.status, 'duplicate')
    assert.equal((await fetch(`${s.url}/ready`)).status, 200)
    const metrics = await (await fetch(`${s.url}/metrics`)).text()
    assert.match(metrics, /kion_backend_errors_total [1-9]/)
    assert.equal(await s.stop(), 0)
    assert.deepEqual(outputLines(s.out), [fixtureLines[0], fixtureLines[1]])
  } finally {
    s?.child.kill('SIGKILL')
    await redis.dispose()
  }
})

test('serve with an unreachable Redis: one line, exit 1, never listens', () => {
  const r = cli(['serve', '--port', '0', '--backend', 'redis', '--redis-url', 'redis://127.0.0.1:1/0'])
  assert.equal(r.status, 1)
  assert.doesNotMatch(r.stderr, /listening/)
  assert.match(r.stderr, /^kion-dedup: cannot use Redis at redis:\/\/127\.0\.0\.1:1\/0/)
})

test('serve: an output that cannot be written (/dev/full) stops the server with exit 1, acknowledging nothing', async () => {
  const s = await serve([], '/dev/full')
  try {
    const r = await post(`${s.url}/event`, fixtureLines[0])
    assert.equal(r.status, 500)
    assert.match(String(r.json.error), /output failed/)
    assert.equal(await s.exited, 1)
    assert.match(s.log(), /--state not saved/)
  } finally {
    s.child.kill('SIGKILL')
  }
})

test('serve --backend redis: a hung Redis fails one request (503) while a later one succeeds; recovery claims only the failed one', async () => {
  const redis = await startRedis()
  let s: Served | null = null
  try {
    // No sleeps: the first request waits out --redis-retry and fails; the second is sent while
    // Redis still hangs and has the whole of --redis-retry (far longer than any slow machine's
    // turn-around) once it is back. The first's command, queued in the hung Redis, runs on resume.
    s = await serve(['--backend', 'redis', '--redis-url', redis.url, '--redis-retry', '3s', '--key-prefix', 'hung:'])
    redis.pause()
    const a = await post(`${s.url}/event`, fixtureLines[0])
    const second = post(`${s.url}/event`, fixtureLines[1])
    redis.resume()
    const b = await second
    assert.equal(a.status, 503)
    assert.equal(b.status, 200)
    assert.equal(b.json.status, 'unique')
    // The next requests run the recovery: the failed event is new to its retry; the delivered one stays seen.
    assert.equal((await post(`${s.url}/event`, fixtureLines[0])).json.status, 'unique')
    assert.equal((await post(`${s.url}/event`, fixtureLines[1])).json.status, 'duplicate')
    assert.equal(await s.stop(), 0)
    assert.deepEqual(outputLines(s.out).sort(), [fixtureLines[0], fixtureLines[1]].sort())
  } finally {
    redis.resume()
    s?.child.kill('SIGKILL')
    await redis.dispose()
  }
})

test('serve --backend redis with an output that fails: the keys it remembered are forgotten, so the retry elsewhere is unique', async () => {
  const redis = await startRedis()
  try {
    const args = ['--backend', 'redis', '--redis-url', redis.url, '--key-prefix', 'full:']
    for (const layout of ['compact', 'simple']) {
      const full = await serve([...args, '--redis-layout', layout, '--key-prefix', `full-${layout}:`], '/dev/full')
      const failed = await post(`${full.url}/event`, fixtureLines[0])
      assert.equal(failed.status, 500)
      assert.match(String(failed.json.error), /its keys were forgotten/)
      assert.equal(await full.exited, 1)
      const again = await serve([...args, '--redis-layout', layout, '--key-prefix', `full-${layout}:`])
      try {
        assert.equal((await post(`${again.url}/event`, fixtureLines[0])).json.status, 'unique', layout)
      } finally {
        await again.stop()
      }
    }
  } finally {
    await redis.dispose()
  }
})

test('a client that goes away mid-body is counted as a client abort, not a 500, and logs no error (issue 15, item 15)', async () => {
  const s = await serve()
  try {
    const { connect } = await import('node:net')
    const port = Number(new URL(s.url).port)
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write('POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"client_id":"c"')
          // Gone before the rest of the body.
          setImmediate(() => {
            socket.destroy()
            resolve()
          })
        })
        socket.on('error', reject)
      })
    }
    const metricsText = async () => (await (await fetch(`${s.url}/metrics`)).text())
    const deadline = Date.now() + 30_000
    let text = await metricsText()
    while (!/kion_client_aborts_total 5/.test(text) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      text = await metricsText()
    }
    assert.match(text, /kion_client_aborts_total 5/)
    assert.doesNotMatch(text, /status="500"/)
    assert.doesNotMatch(s.log(), /request failed/)
  } finally {
    assert.equal(await s.stop(), 0)
  }
})

test('serve: /events with a JSON array cut short is a 400 naming where, nothing stored; an over-nested element is one reject at its index (issue 15, item 6)', async () => {
  const ev = (r: number) => `{"client_id":"c","event_datetime":"2025-04-02 12:00:00","event_name":"e","product_id":"p","sid":"s","r":${r}}`
  const s = await serve()
  try {
    const elements = [1, 2, 3, 4].map(ev)
    const array = `[${elements.join(',')}]`
    for (const cut of [array.length - 1, array.length - 5, array.indexOf(elements[3]), array.indexOf(elements[3]) - 1, 1]) {
      const r = await post(`${s.url}/events`, array.slice(0, cut))
      assert.equal(r.status, 400, `cut at ${cut}`)
      assert.match(String(r.json.error), new RegExp(`^body: byte ${cut}: input ended inside an array, .*\\(missing '\\]'\\)$`), `cut at ${cut}`)
    }
    // Nothing of the cut bodies was taken: the same events whole are all unique.
    const whole = await post(`${s.url}/events`, array)
    assert.deepEqual([whole.json.unique, whole.json.duplicate, whole.json.rejected], [4, 0, 0])
    const deep = `{"client_id":"c","d":${'['.repeat(600)}"],{"${']'.repeat(600)}}`
    for (const [at, body] of [
      [1, [ev(5), deep, ev(6), ev(7)]],
      [2, [ev(8), ev(9), deep]],
    ] as const) {
      const r = await post(`${s.url}/events`, `[${body.join(',\n')}]`)
      assert.equal(r.status, 200)
      const results = r.json.results as Array<{ status: string; index?: number; code?: number; error?: string }>
      assert.equal(results.length, body.length)
      assert.deepEqual(results.map((x) => x.status), body.map((e) => (e === deep ? 'rejected' : 'unique')))
      assert.deepEqual([results[at].index, results[at].code], [at, 400])
      assert.match(String(results[at].error), /nesting deeper than 512/)
    }
    assert.equal(await s.stop(), 0)
    assert.equal(outputLines(s.out).length, 4 + 3 + 2)
  } finally {
    s.child.kill('SIGKILL')
  }
})
