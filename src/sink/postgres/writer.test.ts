/** The PostgreSQL writer against a real server (test/support starts a throwaway cluster). */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { startPostgres, type PostgresServer } from '../../../test/support/postgres-server.js'
import { DEFAULT_KEY_FIELDS } from '../../key/canonical.js'
import { PgWriter, PgUnavailable, type PgWriterOptions } from './writer.js'
import { PgConfigError, redactPgUrl } from './connection.js'
import type { EventRow } from './rows.js'

let pg: PostgresServer
before(async () => {
  pg = await startPostgres()
})
after(async () => {
  await pg?.dispose()
})

const NOW = Date.parse('2025-04-05T12:00:00Z')

function options(table: string, extra: Partial<PgWriterOptions> = {}): PgWriterOptions {
  return { url: pg.url, table, rules: { keyFields: DEFAULT_KEY_FIELDS, timeField: 'event_datetime', retentionMs: null, now: () => NOW }, retryMs: 5000, ...extra }
}

function row(i: number, day = '2025-04-02', extra = ''): EventRow {
  const text = Buffer.from(`{"client_id":"c${i}","event_datetime":"${day}T09:15:05.000Z","event_name":"play","product_id":"p","sid":"s${i}","r":${i}${extra}}`)
  return { digest: createHash('sha256').update(text).digest().subarray(0, 16), text, origin: 'test.ndjson', originOffset: i * 100 }
}

test('stores rows once: a second commit of the same rows stores nothing, and the columns hold the key fields and the exact bytes', async () => {
  const w = await PgWriter.open(options('w_once'))
  try {
    const rows = [row(1), row(2), row(3)]
    assert.deepEqual(await w.commit(rows, []), { stored: 3, alreadyStored: 0, unstorable: [] })
    assert.deepEqual(await w.commit([row(1), row(4)], []), { stored: 1, alreadyStored: 1, unstorable: [] })
    assert.equal(pg.psql('SELECT count(*) FROM w_once'), '4')
    assert.equal(pg.psql("SELECT client_id || '|' || sid || '|' || r || '|' || event_time AT TIME ZONE 'UTC' || '|' || origin || ':' || origin_offset FROM w_once WHERE sid = 's2'"), 'c2|s2|2|2025-04-02 09:15:05|test.ndjson:200')
    assert.equal(pg.psql("SELECT event::text FROM w_once WHERE sid = 's3'"), row(3).text.toString())
    assert.equal(pg.psql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'w_once'::regclass AND inhrelid = 'w_once_p20250402'::regclass"), '1')
    // The event column is compressed with lz4 (measured: 2.3x the rows/s of the default pglz), partitions too.
    assert.equal(pg.psql("SELECT attcompression FROM pg_attribute WHERE attrelid = 'w_once_p20250402'::regclass AND attname = 'event'"), 'l')
  } finally {
    await w.close()
  }
})

test('what PostgreSQL cannot store goes to the rejects table with the reason, and the rest of the batch is stored', async () => {
  const w = await PgWriter.open(options('w_rejects'))
  try {
    const nul = row(10, '2025-04-02', '')
    const nulText = Buffer.from(nul.text.toString().replace('"s10"', '"s\\u0000x"'))
    const badUtf8 = Buffer.concat([Buffer.from('{"client_id":"\xff'), Buffer.from('","event_datetime":"2025-04-02","event_name":"e","product_id":"p","sid":"s","r":1}')])
    badUtf8[15] = 0xff
    const noTime = Buffer.from('{"client_id":"c","event_datetime":"yesterday","event_name":"e","product_id":"p","sid":"s","r":1}')
    const rows: EventRow[] = [row(11), { ...nul, text: nulText }, { ...row(12), text: badUtf8 }, { ...row(13), text: noTime }]
    const r = await w.commit(rows, [{ origin: 'test.ndjson', originOffset: 5, reason: 'invalid JSON', event: Buffer.from('{oops') }])
    assert.equal(r.stored, 1)
    assert.equal(r.unstorable.length, 3)
    assert.match(r.unstorable[0].reason, /U\+0000/)
    assert.match(r.unstorable[1].reason, /UTF-8/)
    assert.match(r.unstorable[2].reason, /not a time/)
    assert.equal(pg.psql('SELECT count(*) FROM w_rejects_rejects'), '4')
    assert.equal(pg.psql("SELECT reason FROM w_rejects_rejects WHERE origin_offset = 5"), 'invalid JSON')
  } finally {
    await w.close()
  }
})

test('a table that differs is refused before anything is written, naming the difference', async () => {
  pg.psql('CREATE TABLE w_differs (digest bytea, event text)')
  await assert.rejects(PgWriter.open(options('w_differs')), (e: Error) => e instanceof PgConfigError && /column "client_id" \(text\) is missing/.test(e.message) && /not partitioned/.test(e.message))
})

test('wrong credentials and an unreachable server: clear errors without the password', async () => {
  const wrong = pg.urlFor('kion', 'not-the-password')
  await assert.rejects(PgWriter.open(options('w_x', { url: wrong })), (e: Error) => e instanceof PgConfigError && /refused the login/.test(e.message) && !e.message.includes('not-the-password'))
  const away = 'postgres://kion:s3cret@127.0.0.1:1/postgres'
  await assert.rejects(PgWriter.open(options('w_x', { url: away })), (e: Error) => /cannot reach PostgreSQL at postgres:\/\/kion:\*\*\*@127\.0\.0\.1:1/.test(e.message) && !e.message.includes('s3cret'))
  assert.equal(redactPgUrl('postgresql://u:p%40ss@h:5/db'), 'postgresql://u:***@h:5/db')
})

test('a step that throws aborts the whole transaction: no row of the batch is stored', async () => {
  const w = await PgWriter.open(options('w_step'))
  try {
    await assert.rejects(
      w.commit([row(20)], [], async () => {
        throw new Error('fenced')
      }),
      /fenced/,
    )
    assert.equal(pg.psql('SELECT count(*) FROM w_step'), '0')
  } finally {
    await w.close()
  }
})

test('retention drops the partitions of days past it, and refuses rows of those days', async () => {
  pg.psql('DROP TABLE IF EXISTS w_keep')
  const first = await PgWriter.open(options('w_keep'))
  await first.commit([row(30, '2025-03-01'), row(31, '2025-04-04')], [])
  await first.close()
  const w = await PgWriter.open(options('w_keep', { rules: { keyFields: DEFAULT_KEY_FIELDS, timeField: 'event_datetime', retentionMs: 30 * 86_400_000, now: () => NOW } }))
  try {
    assert.equal(pg.psql("SELECT to_regclass('w_keep_p20250301') IS NULL"), 't')
    assert.equal(pg.psql('SELECT count(*) FROM w_keep'), '1')
    const r = await w.commit([row(32, '2025-03-01')], [])
    assert.match(r.unstorable[0]?.reason ?? '', /past --pg-retention/)
  } finally {
    await w.close()
  }
})

test('the database restarted mid-run: the batch is tried again and stored once; past --pg-retry it fails with nothing stored', async () => {
  const w = await PgWriter.open(options('w_restart', { retryMs: 60_000 }))
  try {
    await w.commit([row(40)], [])
    await pg.stop()
    const pending = w.commit([row(41), row(40)], [])
    // The writer retries on its own while the server is down; started again, it goes on.
    await new Promise((resolve) => setTimeout(resolve, 300))
    await pg.start()
    assert.deepEqual(await pending, { stored: 1, alreadyStored: 1, unstorable: [] })
    assert.equal(pg.psql('SELECT count(*) FROM w_restart'), '2')
    await pg.stop()
    await assert.rejects(w.commit([row(42)], [], undefined, 200), (e: Error) => e instanceof PgUnavailable)
    await pg.start()
    assert.equal(pg.psql('SELECT count(*) FROM w_restart'), '2')
  } finally {
    await w.close()
  }
})
