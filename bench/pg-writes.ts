/**
 * @module Issue 14: the fastest way to bulk-write unique events into PostgreSQL with `pg`.
 * Multi-row INSERT, INSERT ... SELECT FROM unnest(arrays), and COPY into a temp staging table then
 * INSERT ... SELECT, all `ON CONFLICT DO NOTHING`, each batch one transaction with the sink's
 * offsets UPDATE; json against jsonb, batch sizes, 1 and 2 connections, 20 % conflicts, and
 * writing the same bytes to /dev/null as the floor. A durable (fsync on) throwaway cluster is
 * started here. Rounds are interleaved, each config on a freshly truncated table; medians.
 *
 *   npx tsc -p . && node dist/bench/pg-writes.js [--rows N] [--rounds R] [--quick] [--all] [--json FILE]
 *   (default 60,000 rows and 3 rounds, about 10 minutes; --quick: 10,000 rows, 1 round, batches of 1,000;
 *   --all: unnest at every batch size and in every variant)
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, readFileSync, readdirSync, writeFileSync, writeSync } from 'node:fs'
import { loadavg } from 'node:os'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { describeMachine, machineLine } from './machine.js'
import { startPostgres, type PostgresServer } from '../test/support/postgres-server.js'
import { xorshift } from '../test/support/random.js'

type Method = 'insert' | 'unnest' | 'copy'
/** The event column's type; `json-lz4` is json with `COMPRESSION lz4` instead of the default pglz. */
type EventType = 'json' | 'jsonb' | 'json-lz4'
const TYPES: EventType[] = ['json', 'jsonb', 'json-lz4']
const sqlType = (t: EventType) => (t === 'jsonb' ? 'jsonb' : 'json')

interface Config {
  method: Method | 'devnull'
  type: EventType
  batch: number
  conns: number
  /** Share of the rows already in the table before the timed write (they must be skipped). */
  conflicts: number
}

interface Sample {
  seconds: number
  inserted: number
  clientCpuUs: number
  serverCpuUs: number
  /** pg_stat_statements' total_exec_time over the round, ms. */
  serverExecMs: number
}

/** Column arrays (struct of arrays): unnest takes slices as they are, the others index them. */
interface Data {
  n: number
  digest: Buffer[]
  clientId: string[]
  eventDatetime: string[]
  eventName: string[]
  productId: string[]
  sid: string[]
  r: string[]
  eventTime: string[]
  event: string[]
  origin: string[]
  originOffset: number[]
  eventBytes: number
}

const COLS = ['digest', 'client_id', 'event_datetime', 'event_name', 'product_id', 'sid', 'r', 'event_time', 'event', 'origin', 'origin_offset']
const NCOLS = COLS.length
const MAX_PARAMS = 65535
const DAY0 = Date.UTC(2025, 3, 1)
const DAYS = ['2025-04-01', '2025-04-02', '2025-04-03', '2025-04-04']
const SAMPLE = new URL('../../../shared/sample-event.json', import.meta.url)

// ---- options

const USAGE = 'usage: node dist/bench/pg-writes.js [--rows N] [--rounds R] [--quick] [--all] [--json FILE]'
let rows = 60_000
let rounds = 3
let quick = false
let all = false
let jsonFile: string | null = null
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]
  if (a === '--rows') rows = Number(process.argv[++i])
  else if (a === '--rounds') rounds = Number(process.argv[++i])
  else if (a === '--quick') quick = true
  else if (a === '--all') all = true
  else if (a === '--json') jsonFile = process.argv[++i] ?? null
  else {
    process.stderr.write(`${a === '--help' ? '' : `unknown option ${a}\n`}${USAGE}\n`)
    process.exit(a === '--help' ? 0 : 2)
  }
}
if (quick) {
  if (!process.argv.includes('--rows')) rows = 10_000
  if (!process.argv.includes('--rounds')) rounds = 1
}
if (!Number.isSafeInteger(rows) || rows < 10 || !Number.isSafeInteger(rounds) || rounds < 1 || jsonFile === '') {
  process.stderr.write(`${USAGE}\n`)
  process.exit(2)
}

// ---- data

function makeData(n: number): Data {
  const base = JSON.parse(readFileSync(SAMPLE, 'utf8')) as Record<string, unknown>
  const rnd = xorshift(14)
  const d: Data = { n, digest: [], clientId: [], eventDatetime: [], eventName: [], productId: [], sid: [], r: [], eventTime: [], event: [], origin: [], originOffset: [], eventBytes: 0 }
  for (let i = 0; i < n; i++) {
    // Roughly time-ordered over three days with a minute of jitter, as a topic's partition is.
    const t = new Date(DAY0 + Math.floor((i / n) * 3 * 86_400_000 + rnd() * 60_000))
    const iso = t.toISOString()
    const e = { ...base }
    e.client_id = (0x1000_0000_0000 + i * 7919).toString(16).padStart(16, '0')
    e.sid = String(8_000_000_000_000_000_000n + BigInt(i) * 104_729n)
    e.r = String(Math.floor(rnd() * 1e15) * 10_000 + (i % 10_000))
    e.event_datetime = iso
    e.event_date = iso.slice(0, 10)
    const text = JSON.stringify(e)
    d.digest.push(createHash('sha256').update(`${e.client_id}\0${iso}\0${e.event_name}\0${e.product_id}\0${e.sid}\0${e.r}`).digest().subarray(0, 16))
    d.clientId.push(e.client_id as string)
    d.eventDatetime.push(iso)
    d.eventName.push(String(e.event_name))
    d.productId.push(String(e.product_id))
    d.sid.push(e.sid as string)
    d.r.push(e.r as string)
    d.eventTime.push(iso)
    d.event.push(text)
    d.origin.push('kafka:events/0')
    d.originOffset.push(i)
    d.eventBytes += text.length
  }
  return d
}

function subset(d: Data, keep: (i: number) => boolean): Data {
  const idx = Array.from({ length: d.n }, (_, i) => i).filter(keep)
  const pick = <T>(xs: T[]) => idx.map((i) => xs[i])
  return {
    n: idx.length,
    digest: pick(d.digest), clientId: pick(d.clientId), eventDatetime: pick(d.eventDatetime), eventName: pick(d.eventName),
    productId: pick(d.productId), sid: pick(d.sid), r: pick(d.r), eventTime: pick(d.eventTime), event: pick(d.event),
    origin: pick(d.origin), originOffset: pick(d.originOffset), eventBytes: idx.reduce((s, i) => s + d.event[i].length, 0),
  }
}

function columns(d: Data, a: number, b: number): unknown[][] {
  return [d.digest, d.clientId, d.eventDatetime, d.eventName, d.productId, d.sid, d.r, d.eventTime, d.event, d.origin, d.originOffset].map((c) => (c as unknown[]).slice(a, b))
}

// ---- schema

const SUFFIX: Record<EventType, string> = { json: '', jsonb: '_b', 'json-lz4': '_l' }
const table = (t: EventType) => `kion_events${SUFFIX[t]}`
const stage = (t: EventType) => `kion_stage${SUFFIX[t]}`
const colDefs = (t: EventType) =>
  `digest bytea NOT NULL, client_id text, event_datetime text, event_name text, product_id text, sid text, r text,
   event_time timestamptz NOT NULL, event ${sqlType(t)}${t === 'json-lz4' ? ' COMPRESSION lz4' : ''} NOT NULL, origin text NOT NULL, origin_offset bigint`

async function createSchema(c: pg.Client): Promise<void> {
  for (const t of TYPES) {
    await c.query(`CREATE TABLE ${table(t)} (${colDefs(t)}, stored_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (event_time, digest)) PARTITION BY RANGE (event_time)`)
    for (let i = 0; i < DAYS.length; i++) {
      const next = new Date(Date.parse(DAYS[i]) + 86_400_000).toISOString().slice(0, 10)
      await c.query(`CREATE TABLE ${table(t)}_${DAYS[i].replaceAll('-', '')} PARTITION OF ${table(t)} FOR VALUES FROM ('${DAYS[i]}') TO ('${next}')`)
    }
  }
  await c.query('CREATE TABLE offsets (part int PRIMARY KEY, next bigint NOT NULL)')
  await c.query('INSERT INTO offsets SELECT g, 0 FROM generate_series(0, 99) g')
  await c.query('CREATE EXTENSION pg_stat_statements')
}

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url })
  // Errors reach the awaiting query; without a listener, the server's exit at dispose() would crash the process first.
  c.on('error', () => {})
  await c.connect()
  // The staging tables of method 3, once per connection.
  for (const t of TYPES) await c.query(`CREATE TEMP TABLE ${stage(t)} (${colDefs(t)}) ON COMMIT DELETE ROWS`)
  return c
}

// ---- the three writers: each returns the rows really inserted

const insertText = new Map<string, string>()
function insertSql(t: EventType, n: number): string {
  const key = `${t}/${n}`
  let s = insertText.get(key)
  if (s === undefined) {
    const tuples: string[] = []
    for (let i = 0; i < n; i++) tuples.push(`(${COLS.map((_, j) => `$${i * NCOLS + j + 1}`).join(',')})`)
    s = `INSERT INTO ${table(t)} (${COLS.join(',')}) VALUES ${tuples.join(',')} ON CONFLICT DO NOTHING`
    insertText.set(key, s)
  }
  return s
}

async function writeInsert(c: pg.Client, t: EventType, d: Data, a: number, b: number): Promise<number> {
  let inserted = 0
  const per = Math.floor(MAX_PARAMS / NCOLS)
  for (let s = a; s < b; s += per) {
    const e = Math.min(b, s + per)
    const values: unknown[] = []
    for (let i = s; i < e; i++) {
      values.push(d.digest[i], d.clientId[i], d.eventDatetime[i], d.eventName[i], d.productId[i], d.sid[i], d.r[i], d.eventTime[i], d.event[i], d.origin[i], d.originOffset[i])
    }
    inserted += (await c.query(insertSql(t, e - s), values)).rowCount ?? 0
  }
  return inserted
}

const unnestSql = (t: EventType) =>
  `INSERT INTO ${table(t)} (${COLS.join(',')}) SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[],
   $6::text[], $7::text[], $8::timestamptz[], $9::${sqlType(t)}[], $10::text[], $11::bigint[]) ON CONFLICT DO NOTHING`

async function writeUnnest(c: pg.Client, t: EventType, d: Data, a: number, b: number): Promise<number> {
  return (await c.query(unnestSql(t), columns(d, a, b))).rowCount ?? 0
}

/** COPY text format: backslash, tab, newline and CR escaped; everything else as is. */
function copyText(s: string): string {
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (ch) => (ch === '\\' ? '\\\\' : ch === '\t' ? '\\t' : ch === '\n' ? '\\n' : '\\r')) : s
}

function copyPayload(d: Data, a: number, b: number): Buffer {
  const lines: string[] = []
  for (let i = a; i < b; i++) {
    lines.push(
      `\\\\x${d.digest[i].toString('hex')}\t${copyText(d.clientId[i])}\t${copyText(d.eventDatetime[i])}\t${copyText(d.eventName[i])}\t${copyText(d.productId[i])}\t${copyText(d.sid[i])}\t${copyText(d.r[i])}\t${d.eventTime[i]}\t${copyText(d.event[i])}\t${copyText(d.origin[i])}\t${d.originOffset[i]}\n`,
    )
  }
  return Buffer.from(lines.join(''))
}

async function writeCopy(c: pg.Client, t: EventType, d: Data, a: number, b: number): Promise<number> {
  await pipeline(Readable.from([copyPayload(d, a, b)]), c.query(copyFrom(`COPY ${stage(t)} (${COLS.join(',')}) FROM STDIN`)))
  return (await c.query(`INSERT INTO ${table(t)} (${COLS.join(',')}) SELECT ${COLS.join(',')} FROM ${stage(t)} ON CONFLICT DO NOTHING`)).rowCount ?? 0
}

const WRITERS: Record<Method, (c: pg.Client, t: EventType, d: Data, a: number, b: number) => Promise<number>> = { insert: writeInsert, unnest: writeUnnest, copy: writeCopy }

/** One batch, one transaction: the rows, then the sink's offsets update, which must hit its row. */
async function batch(c: pg.Client, m: Method, t: EventType, d: Data, a: number, b: number, part: number, next: number): Promise<number> {
  await c.query('BEGIN')
  try {
    const inserted = await WRITERS[m](c, t, d, a, b)
    const u = await c.query('UPDATE offsets SET next = $1 WHERE part = $2 AND next = $3', [next + (b - a), part, next])
    if (u.rowCount !== 1) throw new Error(`offsets of part ${part} not at ${next}`)
    await c.query('COMMIT')
    return inserted
  } catch (e) {
    await c.query('ROLLBACK')
    throw e
  }
}

/** Writes all of `d` in batches over `conns` connections, each with its own offsets row (a partition). */
async function writeAll(conns: pg.Client[], m: Method, t: EventType, d: Data, size: number, partBase = 0): Promise<number> {
  let cursor = 0
  let inserted = 0
  await Promise.all(
    conns.map(async (c, k) => {
      let next = 0
      for (;;) {
        const a = cursor
        if (a >= d.n) return
        const b = Math.min(d.n, a + size)
        cursor = b
        const n = await batch(c, m, t, d, a, b, partBase + k, next) // not `inserted += await`: that reads `inserted` before the await
        inserted += n
        next += b - a
      }
    }),
  )
  return inserted
}

// ---- CPU: the client from process.cpuUsage, the server from /proc (postmaster and its children)

function serverTicks(server: PostgresServer): number {
  const postmaster = Number(readFileSync(`${server.dataDir}/postmaster.pid`, 'utf8').split('\n')[0])
  let ticks = 0
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(p) === postmaster || Number(f[1]) === postmaster) ticks += Number(f[11]) + Number(f[12])
    } catch {
      // The process ended between readdir and read: its ticks are lost either way.
    }
  }
  return ticks
}
const TICK_US = 10_000 // CLK_TCK is 100 on Linux

// ---- one timed run of a config

async function run(server: PostgresServer, admin: pg.Client, pool: pg.Client[], cfg: Config, d: Data): Promise<Sample> {
  if (cfg.method === 'devnull') {
    const fd = openSync('/dev/null', 'w')
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    for (let a = 0; a < d.n; a += cfg.batch) writeSync(fd, Buffer.from(d.event.slice(a, a + cfg.batch).join('\n')))
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    closeSync(fd)
    return { seconds, inserted: d.n, clientCpuUs: cpu.user + cpu.system, serverCpuUs: 0, serverExecMs: 0 }
  }
  const method = cfg.method
  await admin.query(`TRUNCATE ${table(cfg.type)}`)
  await admin.query('UPDATE offsets SET next = 0')
  if (cfg.conflicts > 0) {
    const every = Math.round(1 / cfg.conflicts)
    await writeAll([pool[0]], 'copy', cfg.type, subset(d, (i) => i % every === 0), 5000, 50)
  }
  await admin.query('CHECKPOINT')
  await admin.query('SELECT pg_stat_statements_reset()')
  const conns = pool.slice(0, cfg.conns)
  const ticks0 = serverTicks(server)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const inserted = await writeAll(conns, method, cfg.type, d, cfg.batch)
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const ticks = serverTicks(server) - ticks0
  const exec = await admin.query<{ ms: number }>(
    `SELECT coalesce(sum(total_exec_time), 0)::float8 AS ms FROM pg_stat_statements WHERE query !~* '(pg_stat_statements|TRUNCATE|CHECKPOINT|count\\(\\*\\)|^UPDATE offsets SET next = \\$1$)'`,
  )
  const count = Number((await admin.query(`SELECT count(*) AS n FROM ${table(cfg.type)}`)).rows[0].n)
  const expected = cfg.conflicts > 0 ? d.n - Math.ceil(d.n / Math.round(1 / cfg.conflicts)) : d.n
  if (inserted !== expected || count !== d.n) throw new Error(`${label(cfg)}: inserted ${inserted} (expected ${expected}), table holds ${count} (expected ${d.n})`)
  return { seconds, inserted, clientCpuUs: cpu.user + cpu.system, serverCpuUs: ticks * TICK_US, serverExecMs: exec.rows[0].ms }
}

function label(c: Config): string {
  if (c.method === 'devnull') return `/dev/null (writeSync), batch ${c.batch}`
  return `${c.method} ${c.type} b=${c.batch} c=${c.conns}${c.conflicts > 0 ? ` ${c.conflicts * 100}% dup` : ''}`
}

// ---- what the sink must pre-check: NUL, invalid UTF-8, \u0000 in json and jsonb

async function checks(url: string): Promise<Array<{ case: string; result: string }>> {
  const c = await connect(url)
  const out: Array<{ case: string; result: string }> = []
  const tryIt = async (name: string, f: () => Promise<unknown>) => {
    try {
      const r = await f()
      out.push({ case: name, result: `ok${r === undefined ? '' : `: ${JSON.stringify(r)}`}` })
    } catch (e) {
      const err = e as { code?: string; message: string; detail?: string }
      out.push({ case: name, result: `${err.code ?? '?'} ${err.message}${err.detail ? ` (${err.detail})` : ''}` })
    }
  }
  const one = async (sql: string, values: unknown[]) => (await c.query(sql, values)).rows[0].v
  await tryIt('json param with \\u0000 in a string', () => one('SELECT $1::json::text AS v', ['{"a":"x\\u0000y"}']))
  await tryIt('jsonb param with \\u0000 in a string', () => one('SELECT $1::jsonb::text AS v', ['{"a":"x\\u0000y"}']))
  await tryIt('json value ->> of a \\u0000 string', () => one("SELECT $1::json->>'a' AS v", ['{"a":"x\\u0000y"}']))
  await tryIt('text param with a NUL (JS "a\\0b")', () => one('SELECT $1::text AS v', ['a\0b']))
  await tryIt('text param, invalid UTF-8 bytes (Buffer 61 ff 62)', () => one('SELECT $1::text AS v', [Buffer.from([0x61, 0xff, 0x62])]))
  await tryIt('json param, invalid UTF-8 bytes (Buffer)', () => one('SELECT $1::json::text AS v', [Buffer.from('{"a":"\xff"}', 'latin1')]))
  await tryIt('text param, lone surrogate (JS "\\ud800")', () => one('SELECT encode(convert_to($1::text, \'UTF8\'), \'hex\') AS v', ['a\ud800b']))
  await tryIt('text[] (unnest) with a NUL', () => one('SELECT (unnest($1::text[])) AS v', [['a\0b']]))
  const copyRow = async (payload: Buffer) => {
    await c.query('BEGIN')
    try {
      await pipeline(Readable.from([payload]), c.query(copyFrom('COPY kion_stage (digest, client_id, event_time, event, origin) FROM STDIN')))
    } finally {
      await c.query('ROLLBACK')
    }
  }
  const row = (client: Buffer, event = '{}') => Buffer.concat([Buffer.from('\\\\x00\t'), client, Buffer.from(`\t2025-04-02T00:00:00Z\t${event}\tx\n`)])
  await tryIt('COPY text: raw NUL byte in a text field', () => copyRow(row(Buffer.from([0x61, 0x00, 0x62]))))
  await tryIt('COPY text: \\0 escape (octal NUL) in a text field', () => copyRow(row(Buffer.from('a\\0b'))))
  await tryIt('COPY text: invalid UTF-8 (61 ff 62) in a text field', () => copyRow(row(Buffer.from([0x61, 0xff, 0x62]))))
  await tryIt('COPY text: \\u0000 in a json field', () => copyRow(row(Buffer.from('a'), '{"a":"\\\\u0000"}')))
  await c.end()
  return out
}

// ---- main

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/**
 * What a round runs. Every method at every batch size on json; the variants (jsonb, lz4, 2
 * connections, 20 % conflicts) at 1,000 rows a batch, for INSERT and COPY only unless --all:
 * unnest is the slowest by far (pg's array literals), and the default run must stay near 10 minutes.
 */
function configs(): Config[] {
  const cs: Config[] = [{ method: 'devnull', type: 'json', batch: 1000, conns: 1, conflicts: 0 }]
  const methods: Method[] = ['insert', 'unnest', 'copy']
  const variants: Method[] = all ? methods : ['insert', 'copy']
  for (const batch of quick ? [1000] : [200, 1000, 5000]) for (const method of methods) if (all || method !== 'unnest' || batch === 1000 || quick) cs.push({ method, type: 'json', batch, conns: 1, conflicts: 0 })
  for (const type of ['jsonb', 'json-lz4'] as const) for (const method of variants) cs.push({ method, type, batch: 1000, conns: 1, conflicts: 0 })
  for (const method of variants) cs.push({ method, type: 'json', batch: 1000, conns: 2, conflicts: 0 })
  for (const method of variants) cs.push({ method, type: 'json', batch: 1000, conns: 1, conflicts: 0.2 })
  return cs
}

const machine = describeMachine()
const load0 = loadavg()[0]
const log = (s: string) => process.stderr.write(`${s}\n`)
log(`generating ${rows} events...`)
const data = makeData(rows)
const server = await startPostgres({ durable: true, settings: { shared_preload_libraries: 'pg_stat_statements', max_wal_size: '4GB' } })
try {
  const admin = new pg.Client({ connectionString: server.url })
  await admin.connect()
  await createSchema(admin)
  const version = (await admin.query('SHOW server_version')).rows[0].server_version as string
  const pool = [await connect(server.url), await connect(server.url)]
  const cfgs = configs()
  // Warm-up: every method and type once on a small slice (JIT, plan caches, the catalogs).
  const warm = subset(data, (i) => i < 2000)
  for (const t of TYPES) for (const m of ['insert', 'unnest', 'copy'] as const) {
    await admin.query(`TRUNCATE ${table(t)}`)
    await admin.query('UPDATE offsets SET next = 0')
    await writeAll(pool, m, t, warm, 500)
  }
  const samples = new Map<Config, Sample[]>(cfgs.map((c) => [c, []]))
  const t0 = performance.now()
  for (let r = 0; r < rounds; r++) {
    // Interleaved: each round visits every config; the order rotates so no config always follows the same one.
    for (let k = 0; k < cfgs.length; k++) {
      const cfg = cfgs[(k + r * 5) % cfgs.length]
      const s = await run(server, admin, pool, cfg, data)
      samples.get(cfg)!.push(s)
      log(`round ${r + 1}/${rounds} ${label(cfg)}: ${Math.round(data.n / s.seconds)} rows/s (${((performance.now() - t0) / 1000).toFixed(0)} s, load ${loadavg()[0].toFixed(2)})`)
    }
  }
  const results = cfgs.map((cfg) => {
    const ss = samples.get(cfg)!
    const seconds = median(ss.map((s) => s.seconds))
    return {
      ...cfg,
      label: label(cfg),
      rowsPerSecond: data.n / seconds,
      mbPerSecond: data.eventBytes / seconds / 1e6,
      clientCpuUsPerRow: median(ss.map((s) => s.clientCpuUs)) / data.n,
      serverCpuUsPerRow: median(ss.map((s) => s.serverCpuUs)) / data.n,
      serverExecUsPerRow: (median(ss.map((s) => s.serverExecMs)) * 1000) / data.n,
      inserted: ss[0].inserted,
      rounds: ss.map((s) => data.n / s.seconds),
    }
  })
  const found = await checks(server.url)
  const load1 = loadavg()[0]
  const report = {
    machine, postgres: version, rows: data.n, eventBytesAverage: data.eventBytes / data.n, rounds,
    settings: 'fsync on, synchronous_commit on, max_wal_size 4GB, shared_buffers 128MB (default), default_toast_compression pglz (default)',
    load: { start: load0, end: load1 }, results, checks: found,
  }
  const pad = (s: string, n: number) => s.padEnd(n)
  const num = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }).padStart(9)
  const out: string[] = [
    machineLine(machine),
    `postgres ${version} (fsync on); ${data.n} events of ${Math.round(data.eventBytes / data.n)} B; medians of ${rounds} interleaved rounds; load average ${load0.toFixed(2)} -> ${load1.toFixed(2)}`,
    `${pad('config', 34)}   rows/s      MB/s  client µs/row  server CPU µs/row  server exec µs/row  inserted`,
  ]
  for (const r of results) {
    out.push(`${pad(r.label, 34)}${num(r.rowsPerSecond)} ${num(r.mbPerSecond, 1)} ${num(r.clientCpuUsPerRow, 1)}      ${num(r.serverCpuUsPerRow, 1)}          ${num(r.serverExecUsPerRow, 1)}        ${r.inserted}`)
  }
  out.push('', 'checks (what the sink should pre-check):')
  for (const f of found) out.push(`  ${f.case}: ${f.result}`)
  process.stdout.write(`${out.join('\n')}\n`)
  if (jsonFile !== null) writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`)
  await Promise.all([admin.end(), ...pool.map((c) => c.end())])
} finally {
  await server.dispose()
}
