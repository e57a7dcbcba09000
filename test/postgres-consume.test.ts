/**
 * `consume --to postgres` end to end, against a real Kafka broker, a real redis-server and a real
 * PostgreSQL: raw topic → consume workers (one group, Redis) → the events table, each batch one
 * transaction with its partitions' next offsets (fenced). The verdict is always the same query:
 * the digests in the table, compared with the key of every unique event of the input, none missing
 * and none twice. Every wait is on a condition (the table's offsets, a log line), with a deadline.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes, createHash } from 'node:crypto'
import kafkajs from 'kafkajs'
import { FIXTURES, cli, tempDir } from './helpers.js'
import { startRedis, type RedisServer } from './support/redis-server.js'
import { startPostgres, type PostgresServer } from './support/postgres-server.js'
import { committedOffsets, createTopics, produce, releaseKafka, sharedKafka, spawnCli, uniqueName, type Spawned } from './support/kafka.js'
import { PgWriter } from '../src/sink/postgres/writer.js'
import { AlreadyCommitted, OffsetFenced, offsetsStep, type OffsetsPlace } from '../src/consume/pg-offsets.js'
import { DEFAULT_KEY_FIELDS } from '../src/key/canonical.js'
import type { EventRow } from '../src/sink/postgres/rows.js'

let brokers: string
let redis: RedisServer
let pg: PostgresServer

before(async () => {
  ;[brokers, redis, pg] = await Promise.all([sharedKafka(), startRedis(), startPostgres()])
})
after(async () => {
  await redis?.dispose()
  await pg?.dispose()
  await releaseKafka()
})

interface Input {
  lines: string[]
  /** The key (32 hex) of every unique event, as `kion-dedup --emit-key` gives them. */
  keys: string[]
}

function inputOf(file: string): Input {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '')
  const r = cli(['--emit-key', '-q', file])
  assert.equal(r.status, 0, r.stderr)
  const keys = r.lines.map((l) => (JSON.parse(l) as { _key: string })._key).sort()
  return { lines, keys }
}

function generated(count: number, seed: number): Input {
  const r = cli(['generate', '--count', String(count), '--dup-rate', '0.25', '--seed', String(seed)])
  assert.equal(r.status, 0, r.stderr)
  const file = join(tempDir(), 'events.ndjson')
  writeFileSync(file, r.stdout)
  const input = inputOf(file)
  assert.equal(input.keys.length, Number(/unique (\d+)/.exec(r.stderr)?.[1]), r.stderr)
  return input
}

/** A table name of its own for each test (plain lowercase: --pg-table takes no hyphen). */
function tableName(): string {
  return `ev_${randomBytes(4).toString('hex')}`
}

/** The raw events, keyed by their line number so that they spread over the partitions (a retry often lands on another partition than its original). */
async function produceLines(topic: string, lines: string[], from = 0): Promise<void> {
  await produce(
    brokers,
    topic,
    lines.map((l, i) => ({ key: Buffer.from(String(from + i)), value: Buffer.from(l) })),
  )
}

function consumePg(topic: string, table: string, more: string[] = []): Spawned {
  return spawnCli([
    'consume',
    '--brokers', brokers,
    '--topic', topic,
    '--group', topic,
    '--backend', 'redis',
    '--redis-url', redis.url,
    '--key-prefix', `${topic}:`,
    '--session-timeout', '6s',
    '--to', 'postgres',
    '--pg-url', pg.url,
    '--pg-table', table,
    ...more,
  ])
}

/** The partitions' end offsets (high watermarks) of a topic, those with messages only. */
async function endOffsets(topic: string): Promise<Map<number, bigint>> {
  const kafka = new kafkajs.Kafka({ brokers: [brokers], clientId: 'kion-test-ends', logLevel: kafkajs.logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  try {
    const ends = new Map<number, bigint>()
    for (const p of await admin.fetchTopicOffsets(topic)) if (BigInt(p.high) > 0n) ends.set(p.partition, BigInt(p.high))
    return ends
  } finally {
    await admin.disconnect()
  }
}

/** What `<table>_offsets` holds for the topic: partition → next offset. */
function storedOffsets(table: string, topic: string): Map<number, bigint> {
  const m = new Map<number, bigint>()
  // Not there yet: the worker creates it when it starts.
  if (pg.psql(`SELECT to_regclass('${table}_offsets') IS NULL`) === 't') return m
  const out = pg.psql(`SELECT partition || '|' || next_offset FROM ${table}_offsets WHERE consumer_group = '${topic}' AND topic = '${topic}' ORDER BY partition`)
  for (const line of out.split('\n').filter((l) => l !== '')) {
    const [p, o] = line.split('|')
    m.set(Number(p), BigInt(o))
  }
  return m
}

function progress(table: string, topic: string): bigint {
  let sum = 0n
  for (const o of storedOffsets(table, topic).values()) sum += o
  return sum
}

function sameOffsets(a: Map<number, bigint>, b: Map<number, bigint>): boolean {
  return a.size === b.size && [...a].every(([p, o]) => b.get(p) === o)
}

/** Waits until `condition` holds, polling; fails after `timeoutMs` with the workers' logs. */
async function until(what: string, condition: () => boolean | Promise<boolean>, workers: Spawned[] = [], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs / 1000} s\n${workers.map((w) => w.log().slice(-3000)).join('\n----\n')}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Waits until the table's offsets stand at the topic's end. */
async function untilAllStored(table: string, topic: string, workers: Spawned[]): Promise<void> {
  const ends = await endOffsets(topic)
  await until(`offsets at the end of ${topic} (${[...ends].map(([p, o]) => `${p}:${o}`).join(' ')})`, () => sameOffsets(storedOffsets(table, topic), ends), workers)
}

/** The verdict: the table's digests are the input's unique keys, each exactly once. */
function assertExactlyOnce(table: string, input: Input): void {
  const digests = pg.psql(`SELECT encode(digest, 'hex') FROM ${table} ORDER BY 1`).split('\n').filter((l) => l !== '')
  const counts = pg.psql(`SELECT count(*) || '|' || count(DISTINCT digest) FROM ${table}`)
  assert.equal(counts, `${input.keys.length}|${input.keys.length}`, 'count(*) = count(DISTINCT digest) = the unique events')
  const missing = input.keys.filter((k) => !digests.includes(k))
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} unique events missing`)
  // As lists, sorted: a key stored twice would show as a difference here too.
  assert.deepEqual(digests, input.keys, 'every unique event exactly once, none other')
}

test('consume --to postgres: the fixtures (200 events, 149 unique) give exactly the 149 rows; the offsets table ends at the partitions\' end, and the group\'s Kafka offsets follow for lag', async () => {
  const raw = uniqueName('pgraw')
  const table = tableName()
  await createTopics(brokers, [raw], 4)
  const input = inputOf(join(FIXTURES, 'events.ndjson'))
  assert.equal(input.lines.length, 200)
  assert.equal(input.keys.length, 149)
  await produceLines(raw, input.lines)
  const w = consumePg(raw, table)
  try {
    await untilAllStored(table, raw, [w])
    assertExactlyOnce(table, input)
    // Where each row came from: its topic/partition and offset.
    assert.equal(pg.psql(`SELECT count(*) FROM ${table} WHERE origin LIKE '${raw}/%' AND origin_offset IS NOT NULL`), '149')
    const ends = await endOffsets(raw)
    assert.equal(ends.size, 4, 'the fixture spread over the 4 partitions')
    // The group's offsets in Kafka are committed after each batch's transaction, for lag monitoring.
    await until("the group's Kafka offsets at the end", async () => sameOffsets(await committedOffsets(brokers, raw, raw), ends), [w])
    await until('a progress line with every message', () => /"msg":"progress".*"messages":200\b/.test(w.log()), [w], 30_000)
    assert.equal(await w.stop(), 0)
    assert.match(w.log(), /"msg":"stopped".*"unique":149,"duplicate":51,"rejected":0,.*"stored":149,"alreadyStored":0,"unstorable":0/)
  } finally {
    await w.stop('SIGKILL')
  }
})

test('consume --to postgres refuses what cannot work before any offset moves: wrong login, a table that differs (exit 1); --out with it (exit 2)', async () => {
  const raw = uniqueName('pgbad')
  await createTopics(brokers, [raw], 1)
  await produceLines(raw, ['{"client_id":"c","event_datetime":"2025-04-02T09:00:00Z","event_name":"e","product_id":"p","sid":"s","r":1}'])
  const base = ['consume', '--brokers', brokers, '--topic', raw, '--group', raw, '--backend', 'redis', '--redis-url', redis.url, '--to', 'postgres']
  const wrong = cli([...base, '--pg-url', pg.urlFor('kion', 'not-the-password')])
  assert.equal(wrong.status, 1, wrong.stderr)
  assert.match(wrong.stderr, /refused the login/)
  assert.doesNotMatch(wrong.stderr, /not-the-password/)
  pg.psql('CREATE TABLE differs_t (digest bytea, event text)')
  const differs = cli([...base, '--pg-url', pg.url, '--pg-table', 'differs_t'])
  assert.equal(differs.status, 1, differs.stderr)
  assert.match(differs.stderr, /differs_t exists but is not one kion-dedup can write to/)
  const both = cli([...base, '--pg-url', pg.url, '--out', '-'])
  assert.equal(both.status, 2, both.stderr)
  assert.equal((await committedOffsets(brokers, raw, raw)).size, 0, 'no offset moved')
})

test('consume --to postgres: a worker SIGKILLed mid-run, twice, and replaced: every unique event exactly once', async () => {
  const raw = uniqueName('pgkill')
  const table = tableName()
  await createTopics(brokers, [raw], 4)
  const input = generated(20_000, 3)
  await produceLines(raw, input.lines)
  const args = ['--batch-size', '200', '--linger', '5ms']
  const workers: Spawned[] = []
  try {
    let before = 0n
    for (let kill = 0; kill < 2; kill++) {
      const w = consumePg(raw, table, args)
      workers.push(w)
      // Killed once it has stored some more, well before the end (20000 messages).
      const target = before + 3000n
      await until(`progress past ${target}`, () => progress(table, raw) >= target, [w])
      await w.stop('SIGKILL')
      before = progress(table, raw)
      assert.ok(before < 20_000n, `killed before the end (${before})`)
    }
    const last = consumePg(raw, table, args)
    workers.push(last)
    await untilAllStored(table, raw, workers)
    assertExactlyOnce(table, input)
    assert.equal(await last.stop(), 0)
  } finally {
    for (const w of workers) await w.stop('SIGKILL')
  }
})

test('consume --to postgres: rebalance churn (a second worker joins, the first leaves, a third joins, the second is killed) while events arrive: exactly once', async () => {
  const raw = uniqueName('pgchurn')
  const table = tableName()
  await createTopics(brokers, [raw], 6)
  const input = generated(12_000, 5)
  const args = ['--batch-size', '100', '--linger', '5ms']
  const workers: Spawned[] = []
  const start = () => {
    const w = consumePg(raw, table, args)
    workers.push(w)
    return w
  }
  let producing: Promise<void> = Promise.resolve()
  // Events must still be arriving at each step of the churn, however slowly the workers start on a
  // loaded machine: each third of the input is produced only once the step before it is reached
  // (else the stream may have ended, all stored, before the third worker joins, and "500 more
  // after it joined" could never come).
  const thirds = [0, 1, 2].map(() => {
    let resolve = () => {}
    const promise = new Promise<void>((r) => (resolve = r))
    return { promise, resolve }
  })
  thirds[0].resolve()
  const third = input.lines.length / 3
  try {
    const a = start()
    await a.waitFor(/"msg":"joined group".*"partitions":\[\d/, 60_000)
    // Produced steadily, in slices, while the group changes under the workers.
    producing = (async () => {
      for (let i = 0; i < input.lines.length; i += 500) {
        await thirds[Math.floor(i / third)].promise
        await produceLines(raw, input.lines.slice(i, i + 500), i)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    const past = async (n: bigint) => until(`progress past ${n}`, () => progress(table, raw) >= n, workers)
    await past(1000n)
    const b = start()
    await b.waitFor(/"msg":"joined group".*"partitions":\[\d/, 60_000)
    thirds[1].resolve()
    await past(progress(table, raw) + 500n)
    assert.equal(await a.stop('SIGTERM'), 0)
    const c = start()
    await c.waitFor(/"msg":"joined group".*"partitions":\[\d/, 60_000)
    thirds[2].resolve()
    await past(progress(table, raw) + 500n)
    await b.stop('SIGKILL')
    await producing
    await untilAllStored(table, raw, workers)
    assertExactlyOnce(table, input)
    assert.equal(await c.stop(), 0)
    // How often the fence refused a batch here depends on timing: told, not asserted.
    const fenced = workers.reduce((n, w) => n + (w.log().match(/"msg":"batch failed[^\n]*another worker/g)?.length ?? 0), 0)
    process.stderr.write(`churn: ${fenced} batches refused by the offsets fence\n`)
  } finally {
    await producing.catch(() => {})
    for (const w of workers) await w.stop('SIGKILL')
  }
})

test('consume --to postgres: PostgreSQL stopped and started again mid-run: the worker retries the batch (--pg-retry) and goes on, exactly once', async () => {
  const raw = uniqueName('pgdown')
  const table = tableName()
  await createTopics(brokers, [raw], 2)
  const input = generated(4000, 9)
  const half = input.lines.length / 2
  await produceLines(raw, input.lines.slice(0, half))
  const w = consumePg(raw, table, ['--batch-size', '200', '--linger', '5ms', '--pg-retry', '120s'])
  try {
    await until('progress', () => progress(table, raw) > 0n, [w])
    await pg.stop()
    // Events that arrive while the database is away: their batch waits for it.
    await produceLines(raw, input.lines.slice(half), half)
    await w.waitFor(/PostgreSQL unavailable; trying the batch again/, 60_000)
    await pg.start()
    await untilAllStored(table, raw, [w])
    assertExactlyOnce(table, input)
    assert.equal(w.child.exitCode, null, 'the worker waited for the database instead of stopping')
    assert.equal(await w.stop(), 0)
  } finally {
    await w.stop('SIGKILL')
  }
})

test("consume --to postgres: the group's Kafka offset ahead of the table's (moved by hand): the worker says so instead of skipping events", async () => {
  const raw = uniqueName('pgahead')
  const table = tableName()
  await createTopics(brokers, [raw], 1)
  const input = generated(40, 13)
  await produceLines(raw, input.lines.slice(0, 20))
  const first = consumePg(raw, table)
  try {
    await untilAllStored(table, raw, [first])
    await until("the group's Kafka offset at the end", async () => (await committedOffsets(brokers, raw, raw)).get(0) === 20n, [first])
    assert.equal(await first.stop(), 0)
  } finally {
    await first.stop('SIGKILL')
  }
  // The table's offset set back (as a restore of an older backup would): Kafka's is ahead now.
  pg.psql(`UPDATE ${table}_offsets SET next_offset = 12`)
  await produceLines(raw, input.lines.slice(20), 20)
  const w = consumePg(raw, table)
  try {
    await w.waitFor(/expected offset 12, got 20: the consumer group's committed offset in Kafka \(20\) is ahead of PostgreSQL's ev_[0-9a-f]+_offsets \(12\)/, 90_000)
    assert.equal(progress(table, raw), 12n, 'nothing stored past the gap')
  } finally {
    await w.stop('SIGKILL')
  }
})

function row(i: number): EventRow {
  const text = Buffer.from(`{"client_id":"c${i}","event_datetime":"2025-04-02T09:15:05.000Z","event_name":"play","product_id":"p","sid":"s${i}","r":${i}}`)
  return { digest: createHash('sha256').update(text).digest().subarray(0, 16), text, origin: 'fence/0', originOffset: i }
}

test('the offsets fence: two writers committing the same partition from the same expected offset: one is refused and stores nothing; a retry of a committed batch is recognised by its token', async () => {
  const table = tableName()
  const open = () => PgWriter.open({ url: pg.url, table, rules: { keyFields: DEFAULT_KEY_FIELDS, timeField: 'event_datetime', retentionMs: null, now: Date.now }, retryMs: 5000 })
  const [a, b] = await Promise.all([open(), open()])
  const place: OffsetsPlace = { table: `${table}_offsets`, group: 'g', topic: 't' }
  const offsetRow = (partition: number) => pg.psql(`SELECT next_offset || ' ' || writer FROM ${table}_offsets WHERE consumer_group = 'g' AND topic = 't' AND partition = ${partition}`)
  try {
    // No row yet: both put the partition's first offsets at once; one only may.
    const first = await Promise.allSettled([a.commit([row(1)], [], offsetsStep(place, [{ partition: 0, from: -1n, to: 100n }], 'a1')), b.commit([row(2)], [], offsetsStep(place, [{ partition: 0, from: -1n, to: 50n }], 'b1'))])
    const firstOk = first.findIndex((r) => r.status === 'fulfilled')
    assert.equal(first.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(first))
    const refused = first[1 - firstOk] as PromiseRejectedResult
    assert.ok(refused.reason instanceof OffsetFenced, String(refused.reason))
    assert.match(refused.reason.message, /another worker/)
    assert.equal(pg.psql(`SELECT count(*) FROM ${table}`), '1', 'the refused batch stored nothing')
    assert.equal(offsetRow(0), firstOk === 0 ? '100 a1' : '50 b1')
    pg.psql(`UPDATE ${table}_offsets SET next_offset = 100, writer = 'setup'`)

    // A row at 100: both move it on from 100, at once; one only may, and the other stores nothing (not its rows, not its rejects).
    const reject = { origin: 't/0', originOffset: 101, reason: 'invalid JSON', event: Buffer.from('{oops') }
    const second = await Promise.allSettled([
      a.commit([row(3), row(4)], [reject], offsetsStep(place, [{ partition: 0, from: 100n, to: 110n }], 'a2')),
      b.commit([row(5), row(6)], [reject], offsetsStep(place, [{ partition: 0, from: 100n, to: 120n }], 'b2')),
    ])
    const ok = second.findIndex((r) => r.status === 'fulfilled')
    assert.equal(second.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(second))
    assert.ok((second[1 - ok] as PromiseRejectedResult).reason instanceof OffsetFenced)
    assert.match((second[1 - ok] as PromiseRejectedResult).reason.message, /stored next offset is 1[12]0 \(written by [ab]2\), not 100/)
    assert.equal(pg.psql(`SELECT count(*) FROM ${table}`), '3')
    assert.equal(pg.psql(`SELECT count(*) FROM ${table}_rejects`), '1')
    assert.equal(offsetRow(0), ok === 0 ? '110 a2' : '120 b2')
    const [winner, to, token] = ok === 0 ? [a, 110n, 'a2'] : [b, 120n, 'b2']

    // The winner's transaction tried again (its COMMIT's answer lost): recognised by its token, rolled back (no second reject).
    await assert.rejects(winner.commit([row(3)], [reject], offsetsStep(place, [{ partition: 0, from: 100n, to }], token)), (e: Error) => e instanceof AlreadyCommitted)
    assert.equal(pg.psql(`SELECT count(*) FROM ${table}_rejects`), '1')
    // The same move with another token is someone else's: refused.
    await assert.rejects(winner.commit([row(7)], [], offsetsStep(place, [{ partition: 0, from: 100n, to }], 'other')), (e: Error) => e instanceof OffsetFenced)
    assert.equal(pg.psql(`SELECT count(*) FROM ${table}`), '3')
  } finally {
    await a.close()
    await b.close()
  }
})
