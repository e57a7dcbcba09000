/**
 * `--to postgres` end to end, against a real PostgreSQL (a throwaway cluster on a free port): the
 * batch CLI and serve store each unique event exactly once, resume after a kill, ride out a
 * database restart, and refuse what cannot work before reading any input.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { BIN, FIXTURES, cli, tempDir } from './helpers.js'
import { startPostgres, type PostgresServer } from './support/postgres-server.js'
import { post, serve } from './support/serve.js'
import { startRedis } from './support/redis-server.js'

let pg: PostgresServer
before(async () => {
  pg = await startPostgres()
})
after(async () => {
  await pg?.dispose()
})

const env = () => ({ PGURL: pg.url })

/** The keys (hex) of the unique events of `input`, as the CLI finds them writing to stdout. */
function expectedKeys(args: string[], input?: string): string[] {
  const r = cli(['--emit-key', '-q', ...args], input)
  assert.equal(r.status, 0, r.stderr)
  return r.lines.map((l) => (JSON.parse(l) as { _key: string })._key).sort()
}

/** Fails on any key missing from the table, any key it holds too many times, and any it should not hold. */
function assertExactlyOnce(table: string, keys: string[]): void {
  const rows = pg.psql(`SELECT encode(digest, 'hex') || ' ' || count(*) FROM ${table} GROUP BY digest`).split('\n').filter((l) => l !== '')
  const doubled = rows.filter((r) => !r.endsWith(' 1'))
  assert.deepEqual(doubled, [], 'keys stored more than once')
  const stored = rows.map((r) => r.split(' ')[0]).sort()
  const want = new Set(keys)
  const have = new Set(stored)
  assert.deepEqual(keys.filter((k) => !have.has(k)).slice(0, 5), [], 'unique events missing from the table')
  assert.deepEqual(stored.filter((k) => !want.has(k)).slice(0, 5), [], 'rows that are no unique event of the input')
  assert.equal(stored.length, keys.length)
}

function generated(count: number, seed: number): string {
  const r = cli(['generate', '--count', String(count), '--dup-rate', '0.25', '--seed', String(seed)])
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

async function until(what: string, check: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** How far the run's checkpoint says it has delivered; 0 before it made its tables. */
function checkpointEvents(table: string): number {
  if (pg.psql(`SELECT to_regclass('${table}_checkpoints') IS NULL`) === 't') return 0
  return Number(pg.psql(`SELECT coalesce(max((checkpoint->>'events')::int), 0) FROM ${table}_checkpoints`))
}

test('the fixtures in every format: exactly the 149 unique events in the table; a rerun stores nothing and leaves no checkpoint', () => {
  const keys = expectedKeys([join(FIXTURES, 'events.ndjson')])
  assert.equal(keys.length, 149)
  for (const file of ['events.ndjson', 'events.json', 'events.export.json']) {
    const r = cli(['--to', 'postgres', '--pg-table', 'cli_fixtures', join(FIXTURES, file)], undefined, env())
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, '', 'nothing on stdout with --to postgres')
    assert.match(r.stderr, file === 'events.ndjson' ? /postgres cli_fixtures: stored 149, already there 0/ : /postgres cli_fixtures: stored 0, already there 149/)
  }
  assertExactlyOnce('cli_fixtures', keys)
  assert.equal(pg.psql('SELECT count(*) FROM cli_fixtures_checkpoints'), '0')
  assert.equal(pg.psql(`SELECT count(*) FROM cli_fixtures WHERE origin = '${join(FIXTURES, 'events.ndjson')}' AND origin_offset IS NOT NULL`), '149')
  // The query README shows: events per day.
  assert.equal(pg.psql("SELECT day || ' ' || events FROM (SELECT (event_time AT TIME ZONE 'UTC')::date AS day, count(*) AS events FROM cli_fixtures GROUP BY day) d"), '2025-04-02 149')
})

test('killed mid-run, then rerun: it goes on after the checkpoint committed with the last batch, and every unique event is stored once', async () => {
  const input = generated(20_000, 5)
  const lines = input.split('\n').filter((l) => l !== '')
  const half = lines.slice(0, 10_000).join('\n') + '\n'
  const keys = expectedKeys(['-'], input)
  const child = spawn(process.execPath, [BIN, '--to', 'postgres', '--pg-table', 'cli_kill', '-q', '-'], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, ...env() } })
  const exited = new Promise((resolve) => child.on('close', resolve))
  // Killed with input still in the pipe: that write fails, as it should.
  child.stdin.on('error', () => {})
  child.stdin.write(half)
  // Batches of the first half committed with their checkpoints (a checkpoint moves with stored rows: a
  // last stretch of duplicates alone may not move it): kill it there.
  await until('most of the first half committed', () => checkpointEvents('cli_kill') >= 9000)
  child.kill('SIGKILL')
  await exited
  const delivered = checkpointEvents('cli_kill')
  const again = cli(['--to', 'postgres', '--pg-table', 'cli_kill', '--resume', '-'], input, env())
  assert.equal(again.status, 0, again.stderr)
  assert.match(again.stderr, new RegExp(`skipping the ${delivered} events it delivered`))
  assertExactlyOnce('cli_kill', keys)
  assert.equal(pg.psql('SELECT count(*) FROM cli_kill_checkpoints'), '0')
})

test('PostgreSQL stopped and started again mid-run: the run waits within --pg-retry, then goes on with nothing lost or doubled', async () => {
  const input = generated(6000, 6)
  const lines = input.split('\n').filter((l) => l !== '')
  const keys = expectedKeys(['-'], input)
  const child = spawn(process.execPath, [BIN, '--to', 'postgres', '--pg-table', 'cli_restart', '--pg-retry', '10m', '-q', '-'], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, ...env() } })
  let stderr = ''
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  child.stdin.write(lines.slice(0, 3000).join('\n') + '\n')
  await until('most of the first half committed', () => checkpointEvents('cli_restart') >= 2500)
  await pg.stop()
  child.stdin.end(lines.slice(3000).join('\n') + '\n')
  await until('the run to notice the database is away', () => /PostgreSQL unavailable; trying the batch again/.test(stderr))
  await pg.start()
  assert.equal(await exited, 0, stderr)
  assertExactlyOnce('cli_restart', keys)
})

test('an unreachable database, wrong credentials or a table that differs: exit 1 naming the cause, before any input is read', () => {
  const file = join(FIXTURES, 'events.ndjson')
  const away = cli(['--to', 'postgres', file], undefined, { PGURL: 'postgres://kion:hunter2@127.0.0.1:1/postgres' })
  assert.equal(away.status, 1)
  assert.match(away.stderr, /cannot reach PostgreSQL at postgres:\/\/kion:\*\*\*@127\.0\.0\.1:1\/postgres/)
  assert.doesNotMatch(away.stderr, /hunter2|read 200/)
  const wrong = cli(['--to', 'postgres', '--pg-url', pg.urlFor('kion', 'wrong-pw'), file])
  assert.equal(wrong.status, 1)
  assert.match(wrong.stderr, /refused the login: password authentication failed/)
  assert.doesNotMatch(wrong.stderr, /wrong-pw|read 200/)
  pg.psql('CREATE TABLE cli_other (id int PRIMARY KEY, event jsonb)')
  const differs = cli(['--to', 'postgres', '--pg-table', 'cli_other', file], undefined, env())
  assert.equal(differs.status, 1)
  assert.match(differs.stderr, /table cli_other exists but is not one kion-dedup can write to: column "digest" \(bytea\) is missing/)
  assert.doesNotMatch(differs.stderr, /read 200/)
  const usage = cli(['--to', 'postgres', '-o', join(tempDir(), 'x'), file], undefined, env())
  assert.equal(usage.status, 2)
})

test('an event PostgreSQL cannot store goes to the rejects table with the reason; the run goes on (exit 3 with --strict)', () => {
  const dir = tempDir()
  const file = join(dir, 'mixed.ndjson')
  const ok = (i: number) => `{"client_id":"c${i}","event_datetime":"2025-04-02T10:00:00Z","event_name":"play","product_id":"p","sid":"s","r":${i}}`
  writeFileSync(file, [ok(1), '{"client_id":"c\\u0000","event_datetime":"2025-04-02T10:00:00Z","event_name":"play","product_id":"p","sid":"s","r":2}', '{"client_id":"c","event_datetime":"soon","event_name":"play","product_id":"p","sid":"s","r":3}', ok(4)].join('\n') + '\n')
  const r = cli(['--to', 'postgres', '--pg-table', 'cli_unstorable', '--strict', file], undefined, env())
  assert.equal(r.status, 3, r.stderr)
  assert.match(r.stderr, /not stored \(kept in cli_unstorable_rejects\): .*mixed\.ndjson byte \d+: key field "client_id" holds U\+0000/)
  assert.match(r.stderr, /stored 2, already there 0, not storable 2/)
  assert.equal(pg.psql('SELECT count(*) FROM cli_unstorable'), '2')
  assert.equal(pg.psql("SELECT string_agg(reason, ' | ' ORDER BY origin_offset) FROM cli_unstorable_rejects").includes('"event_datetime" "soon" is not a time'), true)
})

test('serve --to postgres: the fixtures posted as batches and one by one give exactly the 149 unique events', async () => {
  const s = await serve(['--to', 'postgres', '--out', '-', '--pg-table', 'serve_fixtures'].concat(['--pg-url', pg.url]))
  try {
    const keys = expectedKeys([join(FIXTURES, 'events.ndjson')])
    const { readFileSync } = await import('node:fs')
    const ndjson = readFileSync(join(FIXTURES, 'events.ndjson'))
    const lines = ndjson.toString().split('\n').filter((l) => l !== '')
    // Half as concurrent single events (they share transactions), half as one batch.
    const singles = await Promise.all(lines.slice(0, 100).map((l) => post(`${s.url}/event`, l)))
    assert.ok(singles.every((r) => r.status === 200))
    const batch = await post(`${s.url}/events`, lines.slice(100).join('\n'))
    assert.equal(batch.status, 200)
    const again = await post(`${s.url}/events`, readFileSync(join(FIXTURES, 'events.json')))
    assert.equal(again.json.unique, 0)
    assertExactlyOnce('serve_fixtures', keys)
    assert.equal(pg.psql("SELECT count(*) FROM serve_fixtures WHERE origin = 'http'"), '149')
  } finally {
    assert.equal(await s.stop(), 0)
  }
})

for (const backend of ['memory', 'redis'] as const) {
  test(`serve --to postgres, ${backend}: the database down is a 503 with Retry-After, then it recovers by itself; the retry is stored and unique, not a duplicate`, async () => {
    const redis = backend === 'redis' ? await startRedis() : null
    const table = `serve_down_${backend}`
    const s = await serve(['--to', 'postgres', '--out', '-', '--pg-table', table, '--pg-url', pg.url, '--pg-retry', '200ms', ...(redis !== null ? ['--backend', 'redis', '--redis-url', redis.url] : [])])
    const event = '{"client_id":"u1","event_datetime":"2025-04-02T11:00:00Z","event_name":"play","product_id":"p","sid":"s","r":1}'
    try {
      assert.equal((await post(`${s.url}/event`, event.replace('"r":1', '"r":0'))).status, 200)
      await pg.stop()
      const down = await post(`${s.url}/event`, event)
      assert.equal(down.status, 503)
      assert.equal(down.headers.get('retry-after'), '1')
      assert.equal((await fetch(`${s.url}/ready`)).status, 503)
      await pg.start()
      // The first request after the restart connects again; nothing else is needed.
      const retry = await post(`${s.url}/event`, event)
      assert.equal(retry.status, 200, JSON.stringify(retry.json))
      assert.equal(retry.json.status, 'unique')
      assert.equal((await post(`${s.url}/event`, event)).json.status, 'duplicate')
      assert.equal((await fetch(`${s.url}/ready`)).status, 200)
      assert.equal(pg.psql(`SELECT count(*) FROM ${table} WHERE client_id = 'u1'`), '2')
    } finally {
      assert.equal(await s.stop(), 0)
      await redis?.dispose()
    }
  })
}
