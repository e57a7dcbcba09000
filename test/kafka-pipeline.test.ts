/**
 * The scale-out pipeline end to end, against a real Kafka broker and a real redis-server:
 * HTTP (serve --to kafka) → raw topic → consume workers (one group, Redis) → unique topic or file.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { FIXTURES, cli, tempDir } from './helpers.js'
import { startRedis, type RedisServer } from './support/redis-server.js'
import { KafkaBroker } from './support/kafka-broker.js'
import { committedOffsets, createTopics, produce, readTopic, readTopicJava, releaseKafka, sharedKafka, spawnCli, uniqueName, type Spawned } from './support/kafka.js'

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { read: number; unique: number; duplicate: number }
const fixture = readFileSync(join(FIXTURES, 'events.ndjson'))
const fixtureLines = fixture.toString().split('\n').filter((l) => l !== '')

let brokers: string
let redis: RedisServer
let admin: Redis

before(async () => {
  ;[brokers, redis] = await Promise.all([sharedKafka(), startRedis()])
  admin = new Redis(redis.port, '127.0.0.1')
})
after(async () => {
  admin.disconnect()
  await redis.dispose()
  await releaseKafka()
})

async function serveKafka(topic: string, more: string[] = [], bootstrap = brokers): Promise<Spawned & { url: string }> {
  const s = spawnCli(['serve', '--to', 'kafka', '--brokers', bootstrap, '--topic', topic, '--port', '0', ...more])
  const m = await s.waitFor(/"msg":"listening".*"port":(\d+)/)
  return { ...s, url: `http://127.0.0.1:${m[1]}` }
}

function consume(raw: string, prefix: string, more: string[]): Spawned {
  return spawnCli(['consume', '--brokers', brokers, '--topic', raw, '--backend', 'redis', '--redis-url', redis.url, '--key-prefix', prefix, '--session-timeout', '6s', ...more])
}

async function post(url: string, body: string | Buffer): Promise<{ status: number; json: { status?: string; key?: string; accepted?: number; results?: Array<{ status: string; key?: string }> }; headers: Headers }> {
  const r = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body) })
  const text = await r.text()
  return { status: r.status, json: text.startsWith('{') ? JSON.parse(text) : {}, headers: r.headers }
}

/** Posts NDJSON lines in batches; returns the keys the server accepted. */
async function feed(url: string, lines: string[], batch = 150): Promise<string[]> {
  const keys: string[] = []
  for (let i = 0; i < lines.length; i += batch) {
    const r = await post(`${url}/events`, lines.slice(i, i + batch).join('\n'))
    assert.equal(r.status, 202, JSON.stringify(r.json))
    for (const x of r.json.results ?? []) if (x.status === 'accepted') keys.push(x.key!)
  }
  return keys
}

function generated(count: number, seed: number): { lines: string[]; unique: number } {
  const r = cli(['generate', '--count', String(count), '--dup-rate', '0.2', '--seed', String(seed)])
  assert.equal(r.status, 0, r.stderr)
  const unique = Number(/unique (\d+)/.exec(r.stderr)?.[1])
  assert.ok(unique > 0 && unique < count, r.stderr)
  return { lines: r.lines, unique }
}

function fileLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []
}

test('pipeline: the fixtures with client retries, through serve --to kafka, the raw topic and consume, give exactly the unique set in the unique topic', async () => {
  const raw = uniqueName('raw')
  const out = `${raw}.unique`
  await createTopics(brokers, [raw, out, `${raw}.rejects`])
  const s = await serveKafka(raw)
  const c = consume(raw, `${raw}:`, ['--to', 'kafka', '--out-topic', out])
  try {
    // The NDJSON fixture, then the same events as a JSON array, then 40 single retries.
    const keys = await feed(s.url, fixtureLines, 100)
    const again = await post(`${s.url}/events`, readFileSync(join(FIXTURES, 'events.json')))
    assert.equal(again.status, 202)
    assert.equal(again.json.accepted, expected.read)
    for (const line of fixtureLines.slice(0, 40)) {
      const r = await post(`${s.url}/event`, line)
      assert.equal(r.status, 202)
      assert.equal(r.json.status, 'accepted')
      keys.push(r.json.key!)
    }
    const distinct = new Set(keys)
    assert.equal(distinct.size, expected.unique)
    const records = await readTopic(brokers, out, expected.unique)
    assert.equal(records.length, expected.unique, 'each unique event exactly once')
    assert.deepEqual(new Set(records.map((r) => r.key.toString())), distinct)
    // Each is its first occurrence's text, byte for byte (the NDJSON batch came first).
    const lines = new Set(fixtureLines)
    for (const r of records) assert.ok(lines.has(r.value.toString()), r.value.toString().slice(0, 80))
    await c.waitFor(/"msg":"progress".*"messages":440\b/, 30_000)
    // Every committed batch released its occurrences.
    assert.deepEqual(await admin.keys(`${raw}:occurrences*`), [])
    assert.equal(await c.stop(), 0)
    assert.match(c.log(), /"msg":"stopped".*"unique":149,"duplicate":291,"rejected":0/)
  } finally {
    await c.stop('SIGKILL')
    await s.stop()
  }
})

test('two workers in one group split the partitions; the union of their outputs holds each unique event once', async () => {
  const raw = uniqueName('raw')
  await createTopics(brokers, [raw])
  const dir = tempDir()
  const files = [join(dir, 'a.ndjson'), join(dir, 'b.ndjson')]
  const workers = files.map((f) => consume(raw, `${raw}:`, ['--out', f]))
  const s = await serveKafka(raw)
  try {
    // Both in the group before any event: each holds two of the four partitions.
    const assigned = async (w: Spawned) => {
      for (;;) {
        await w.waitFor(/"msg":"joined group"/)
        const all = [...w.log().matchAll(/"msg":"joined group".*"partitions":\[([\d,]*)\]/g)]
        const last = all[all.length - 1][1]
        if (last.split(',').filter((p) => p !== '').length === 2) return last
        await new Promise((r) => setTimeout(r, 200))
      }
    }
    const [pa, pb] = await Promise.all(workers.map(assigned))
    assert.deepEqual([...pa.split(','), ...pb.split(',')].sort(), ['0', '1', '2', '3'])
    const { lines, unique } = generated(3000, 11)
    await feed(s.url, lines)
    const deadline = Date.now() + 60_000
    while (fileLines(files[0]).length + fileLines(files[1]).length < unique && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    const [a, b] = files.map(fileLines)
    assert.ok(a.length > 0 && b.length > 0, `both worked: ${a.length} + ${b.length}`)
    assert.equal(a.length + b.length, unique)
    // No key twice across the two outputs: deduplicating their union removes nothing.
    assert.equal(cli([files[0], files[1]]).lines.length, unique)
    for (const w of workers) assert.equal(await w.stop(), 0)
  } finally {
    for (const w of workers) await w.stop('SIGKILL')
    await s.stop()
  }
})

/** Occurrences recorded in Redis (topic/partition/offset) whose offset the group has not committed: checked, never committed. */
async function uncommittedOccurrences(topic: string, prefix: string): Promise<number> {
  const committed = await committedOffsets(brokers, 'kion-dedup', topic)
  let count = 0
  for (const hash of await admin.keys(`${prefix}occurrences*`)) {
    for (const where of Object.values(await admin.hgetall(hash))) {
      const [t, partition, offset] = where.split('/')
      if (t === topic && BigInt(offset) >= (committed.get(Number(partition)) ?? 0n)) count++
    }
  }
  return count
}

test('a worker SIGKILLed mid-batch, again and again, then replaced: every unique event exactly once in the unique topic', async () => {
  const raw = uniqueName('raw')
  const out = `${raw}.unique`
  const prefix = `${raw}:`
  await createTopics(brokers, [raw, out, `${raw}.rejects`])
  const { lines, unique } = generated(8000, 23)
  const s = await serveKafka(raw)
  await feed(s.url, lines)
  await s.stop()
  // Small batches, so a kill lands between the Redis check and the commit most of the time.
  // One stable transactional id for every incarnation, as with a fixed worker identity: each
  // restart must fence its killed predecessor and go on (not be fenced itself).
  const args = ['--to', 'kafka', '--out-topic', out, '--batch-size', '100', '--linger', '5ms', '--transactional-id', `${raw}-worker`]
  // Kill until a kill lands between a batch's check in Redis and its commit: occurrences recorded
  // in Redis at or past the group's committed offset of their partition. How soon that happens
  // depends on timing, so the loop runs until it has, and the last worker then must meet them.
  let checkedNotCommitted = 0
  for (let kill = 0; kill < 30 && checkedNotCommitted === 0; kill++) {
    const w = consume(raw, prefix, args)
    try {
      await w.waitFor(/"msg":"joined group".*"partitions":\[\d/)
      await new Promise((r) => setTimeout(r, 300 + ((kill * 397) % 900)))
    } finally {
      await w.stop('SIGKILL')
    }
    checkedNotCommitted = await uncommittedOccurrences(raw, prefix)
  }
  assert.ok(checkedNotCommitted > 0, 'a kill landed between a check and its commit')
  const last = consume(raw, prefix, args)
  try {
    // The kafkajs reader waits until all are there; Kafka's own client then gives the verdict.
    await readTopic(brokers, out, unique, { quietMs: 3000, timeoutMs: 120_000 })
    const records = await readTopicJava(brokers, out, 5000)
    const keys = records.map((r) => r.key)
    assert.equal(new Set(keys).size, unique, 'every unique event is there')
    assert.equal(records.length, unique, 'and none twice')
    assert.equal(await last.stop(), 0)
    assert.match(last.log(), /"redelivered":[1-9]/, 'the last worker emitted events a killed one had checked but not committed')
  } finally {
    await last.stop('SIGKILL')
  }
})

test('rebalance churn: workers join and leave (SIGTERM) while events arrive; every event comes out exactly once', async () => {
  const raw = uniqueName('churn')
  const out = `${raw}.unique`
  await createTopics(brokers, [raw, out, `${raw}.rejects`], 8)
  const N = 20_000
  const args = ['--to', 'kafka', '--out-topic', out, '--batch-size', '100', '--linger', '5ms']
  const first = consume(raw, `${raw}:`, args)
  const workers: Spawned[] = [first]
  try {
    await first.waitFor(/"msg":"joined group"/)
    // All distinct events, produced steadily while the group changes under them.
    const event = (i: number) => Buffer.from(JSON.stringify({ client_id: 'churn', event_datetime: '2025-04-02T09:00:00Z', event_name: 'play', product_id: `p-${i}`, sid: 's', r: i }))
    const producing = (async () => {
      for (let i = 0; i < N; i += 500) {
        await produce(brokers, raw, Array.from({ length: 500 }, (_, k) => ({ key: Buffer.from(String(i + k)), value: event(i + k) })))
        await new Promise((r) => setTimeout(r, 150))
      }
    })()
    const joined: Spawned[] = []
    const until = Date.now() + 20_000
    while (Date.now() < until) {
      const w = consume(raw, `${raw}:`, args)
      workers.push(w)
      joined.push(w)
      await new Promise((r) => setTimeout(r, 2500))
      if (joined.length > 1) {
        // Told to stop once it has started (a loaded machine may take longer than the pause to start a process).
        const leaving = joined.shift()!
        await leaving.waitFor(/"msg":"consuming"/)
        assert.equal(await leaving.stop('SIGTERM'), 0)
      }
    }
    await producing
    await readTopic(brokers, out, N, { quietMs: 3000, timeoutMs: 120_000 })
    const records = await readTopicJava(brokers, out, 5000)
    const keys = new Set(records.map((r) => r.key))
    assert.equal(keys.size, N, 'every event is there')
    const twice = new Map<string, string[]>()
    for (const r of records) twice.set(r.key, [...(twice.get(r.key) ?? []), `${r.partition}/${r.offset}`])
    const repeated = [...twice].filter(([, at]) => at.length > 1)
    assert.equal(records.length, N, `and none twice; written twice, at: ${repeated.slice(0, 5).map(([k, at]) => `${k} ${at.join(' ')}`).join('; ')}\n${workers.map((w) => w.log().split('\n').filter((l) => /failed|error/.test(l)).join('\n')).join('\n')}`)
  } finally {
    for (const w of workers) await w.stop('SIGKILL')
  }
})

test('poison messages on the raw topic go to the rejects topic with their offset, and the partition goes on', async () => {
  const raw = uniqueName('raw')
  const out = `${raw}.unique`
  await createTopics(brokers, [raw, out, `${raw}.rejects`], 1)
  const good = fixtureLines.slice(0, 3)
  await produce(brokers, raw, [
    { value: Buffer.from(good[0]) },
    { value: Buffer.from('{"client_id": 1, oops') },
    { value: Buffer.from('{"not":"an event"}') },
    { value: Buffer.alloc(0) },
    { value: Buffer.from(good[1]) },
    { value: Buffer.from(good[2]) },
  ])
  const c = consume(raw, `${raw}:`, ['--to', 'kafka', '--out-topic', out])
  try {
    const [records, rejects] = await Promise.all([readTopic(brokers, out, 3), readTopic(brokers, `${raw}.rejects`, 3)])
    assert.equal(records.length, 3, c.log())
    assert.ok(records.every((r, i) => r.value.toString() === good[i]), 'the good events, in order')
    const header = (r: (typeof rejects)[number], name: string) => r.headers.get(name)
    assert.deepEqual(
      rejects.map((r) => [header(r, 'kion-offset'), header(r, 'kion-partition'), header(r, 'kion-topic')]),
      [['1', '0', raw], ['2', '0', raw], ['3', '0', raw]],
    )
    assert.match(header(rejects[0], 'kion-error') ?? '', /invalid JSON/)
    assert.match(header(rejects[1], 'kion-error') ?? '', /client_id.*missing/)
    assert.match(header(rejects[2], 'kion-error') ?? '', /empty/)
    assert.equal(rejects[0].value.toString(), '{"client_id": 1, oops', 'kept verbatim')
  } finally {
    await c.stop()
  }
  // The same with --out: rejects to a file, one JSON record each, with the offset.
  const dir = tempDir()
  const f = consume(raw, `${raw}-file:`, ['--group', 'file-readers', '--out', join(dir, 'u.ndjson'), '--rejects', join(dir, 'r.ndjson')])
  try {
    await f.waitFor(/"msg":"progress".*"messages":6\b/, 30_000)
    const written = fileLines(join(dir, 'u.ndjson'))
    assert.ok(written.length === 3 && written.every((l, i) => l === good[i]), 'the good events, in order')
    const rejected = fileLines(join(dir, 'r.ndjson')).map((l) => JSON.parse(l) as { offset: string; error: string; value: string })
    assert.deepEqual(rejected.map((r) => r.offset), ['1', '2', '3'])
    assert.equal(rejected[0].value, '{"client_id": 1, oops')
  } finally {
    await f.stop()
  }
})

test('serve --to kafka: the broker stopped under load is a 503 with Retry-After, then 202 again once it is back; nothing acknowledged is missing', async () => {
  // Its own broker: the suite's one must stay up for the others.
  const broker = await new KafkaBroker().start()
  const raw = uniqueName('raw')
  await createTopics(broker.bootstrap, [raw])
  const s = await serveKafka(raw, ['--kafka-timeout', '2s'], broker.bootstrap)
  const acknowledged: string[] = []
  try {
    const first = await post(`${s.url}/event`, fixtureLines[0])
    assert.equal(first.status, 202)
    acknowledged.push(first.json.key!)
    await broker.stop()
    const down = await post(`${s.url}/event`, fixtureLines[1])
    assert.equal(down.status, 503)
    assert.equal(down.headers.get('retry-after'), '1')
    assert.equal((await fetch(`${s.url}/ready`)).status, 503)
    await broker.start()
    // The client retries, as told, until the broker has the event.
    let status = 0
    for (let i = 0; i < 60 && status !== 202; i++) {
      const r = await post(`${s.url}/event`, fixtureLines[1])
      status = r.status
      if (status === 202) acknowledged.push(r.json.key!)
      else await new Promise((resolve) => setTimeout(resolve, 1000))
    }
    assert.equal(status, 202)
    assert.equal((await fetch(`${s.url}/ready`)).status, 200)
    const records = await readTopic(broker.bootstrap, raw, acknowledged.length)
    const keys = new Set(records.map((r) => r.key.toString()))
    for (const k of acknowledged) assert.ok(keys.has(k), `acknowledged ${k} is in the raw topic`)
    assert.match(s.log(), /"msg":"backend unavailable"/)
  } finally {
    await s.stop()
    await broker.dispose()
  }
})

test('consume and serve --to kafka refuse what cannot work: no Redis backend (exit 2), brokers unreachable (exit 1)', async () => {
  const noRedis = cli(['consume', '--brokers', brokers, '--out', '-'])
  assert.equal(noRedis.status, 2)
  assert.match(noRedis.stderr, /consume needs --backend redis/)
  const both = cli(['consume', '--backend', 'redis', '--redis-url', redis.url, '--to', 'kafka', '--out', '-'])
  assert.equal(both.status, 2)
  const serve = cli(['serve', '--to', 'kafka', '--brokers', '127.0.0.1:1', '--port', '0', '--kafka-timeout', '2s'])
  assert.equal(serve.status, 1)
  assert.match(serve.stderr, /Kafka/)
  assert.doesNotMatch(serve.stderr, /listening/)
  const worker = cli(['consume', '--brokers', '127.0.0.1:1', '--backend', 'redis', '--redis-url', redis.url, '--kafka-timeout', '2s', '--out', '-'])
  assert.equal(worker.status, 1)
})
