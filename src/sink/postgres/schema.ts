/**
 * @module The table and its companions. `<table>` holds the unique events, range-partitioned by
 * day on the event's time; its primary key (event_time, digest) makes the table itself refuse a
 * second copy of an event. `<table>_rejects` keeps what could not be stored (or was no event),
 * `<table>_offsets` the Kafka workers' next offsets, `<table>_checkpoints` the batch runs' progress.
 * Missing tables are created; an existing one that differs is refused with what differs.
 */
import type { ClientBase } from 'pg'
import { PgConfigError } from './connection.js'

export const DAY_MS = 86_400_000

/** Columns of our own beside the key fields (which may not take these names). */
export const OWN_COLUMNS = ['digest', 'event_time', 'event', 'origin', 'origin_offset', 'stored_at'] as const

/** A table name as given (`events`, `analytics.events`): plain lowercase identifiers, so they can go into SQL as they are. */
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,39}(\.[a-z_][a-z0-9_]{0,39})?$/

export function checkTableName(name: string): string | null {
  return TABLE_NAME.test(name) ? null : `"${name}" is not a plain table name: lowercase letters, digits and _, optionally schema.table, up to 40 characters each`
}

/** A column name in SQL: quoted, so that any key field name works. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

export class TableNames {
  readonly events: string
  readonly rejects: string
  readonly offsets: string
  readonly checkpoints: string
  /** The partitions' names without their day (`<table>_p`). */
  private readonly partitionPrefix: string
  readonly schema: string | null
  readonly bare: string

  constructor(readonly table: string) {
    const why = checkTableName(table)
    if (why !== null) throw new PgConfigError(`--pg-table: ${why}`)
    const dot = table.indexOf('.')
    this.schema = dot < 0 ? null : table.slice(0, dot)
    this.bare = dot < 0 ? table : table.slice(dot + 1)
    this.events = table
    this.rejects = `${table}_rejects`
    this.offsets = `${table}_offsets`
    this.checkpoints = `${table}_checkpoints`
    this.partitionPrefix = `${table}_p`
  }

  /** The partition holding day `day` (days since the epoch, UTC). */
  partition(day: number): string {
    return `${this.partitionPrefix}${dayText(day).replace(/-/g, '')}`
  }

  /** The day a partition of ours holds, from its bare name; null for a table not named by us. */
  dayOfPartition(bareName: string): number | null {
    const m = new RegExp(`^${this.bare}_p(\\d{4})(\\d{2})(\\d{2})$`).exec(bareName)
    if (m === null) return null
    return Math.floor(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / DAY_MS)
  }
}

/** `YYYY-MM-DD` of a day number (UTC). */
export function dayText(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10)
}

/** The first and last day a partition can be made for (years 1000 to 9999: four-digit names, ordinary timestamps). */
export const FIRST_DAY = Math.floor(Date.UTC(1000, 0, 1) / DAY_MS)
export const LAST_DAY = Math.floor(Date.UTC(9999, 11, 31) / DAY_MS)

interface ColumnSpec {
  name: string
  type: string
}

/** What the events table must look like, column by column, in order. */
function eventColumns(keyFields: readonly string[]): ColumnSpec[] {
  return [
    { name: 'digest', type: 'bytea' },
    ...keyFields.map((f) => ({ name: f, type: 'text' })),
    { name: 'event_time', type: 'timestamp with time zone' },
    { name: 'event', type: 'json' },
    { name: 'origin', type: 'text' },
    { name: 'origin_offset', type: 'bigint' },
    { name: 'stored_at', type: 'timestamp with time zone' },
  ]
}

export function checkKeyFieldColumns(keyFields: readonly string[]): void {
  for (const f of keyFields) {
    if ((OWN_COLUMNS as readonly string[]).includes(f)) throw new PgConfigError(`key field "${f}" has the name of one of the table's own columns (${OWN_COLUMNS.join(', ')}): it cannot be a column of its own`)
    if (Buffer.byteLength(f) > 63) throw new PgConfigError(`key field "${f}" is longer than PostgreSQL's 63-byte column names`)
  }
}

/**
 * The events table. `lz4`: the event column compressed with lz4 instead of pglz, the default:
 * compressing each ~5 KB event was nearly half of the server's work, and lz4 made writes 2.3x
 * faster (bench/README.md, "Writing to PostgreSQL"). Partitions inherit it.
 */
function eventsDdl(t: TableNames, keyFields: readonly string[], lz4: boolean): string {
  const keys = keyFields.map((f) => `  ${quoteIdent(f)} text,\n`).join('')
  return `CREATE TABLE ${t.events} (
  digest bytea NOT NULL,
${keys}  event_time timestamptz NOT NULL,
  event json${lz4 ? ' COMPRESSION lz4' : ''} NOT NULL,
  origin text NOT NULL,
  origin_offset bigint,
  stored_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_time, digest)
) PARTITION BY RANGE (event_time)`
}

function companionsDdl(t: TableNames): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${t.rejects} (
  id bigserial PRIMARY KEY,
  origin text NOT NULL,
  origin_offset bigint,
  reason text NOT NULL,
  event bytea NOT NULL,
  rejected_at timestamptz NOT NULL DEFAULT now()
)`,
    `CREATE TABLE IF NOT EXISTS ${t.offsets} (
  consumer_group text NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL,
  next_offset bigint NOT NULL,
  writer text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
)`,
    `CREATE TABLE IF NOT EXISTS ${t.checkpoints} (
  run text PRIMARY KEY,
  checkpoint jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
)`,
  ]
}

/**
 * Creates what is missing (under an advisory lock: workers starting together do it once), then
 * checks the events table: its columns, types, partitioning and primary key. Throws PgConfigError
 * naming every difference.
 */
export async function ensureSchema(client: ClientBase, t: TableNames, keyFields: readonly string[]): Promise<void> {
  checkKeyFieldColumns(keyFields)
  await client.query('BEGIN')
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`kion-dedup schema ${t.events}`])
    if (t.schema !== null) {
      const s = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [t.schema])
      if (s.rowCount === 0) throw new PgConfigError(`--pg-table ${t.events}: there is no schema "${t.schema}" (create it, or name a table without a schema)`)
    }
    const exists = await client.query('SELECT to_regclass($1) IS NOT NULL AS present', [t.events])
    if (exists.rows[0].present !== true) {
      // A server built without lz4 refuses it (0A000): then the default compression.
      await client.query('SAVEPOINT lz4')
      try {
        await client.query(eventsDdl(t, keyFields, true))
      } catch (e) {
        if ((e as { code?: string }).code !== '0A000') throw e
        await client.query('ROLLBACK TO SAVEPOINT lz4')
        await client.query(eventsDdl(t, keyFields, false))
      }
    }
    for (const ddl of companionsDdl(t)) await client.query(ddl)
    await client.query('COMMIT')
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    throw e
  }
  const problems = await differences(client, t, keyFields)
  if (problems.length > 0) throw new PgConfigError(`table ${t.events} exists but is not one kion-dedup can write to: ${problems.join('; ')}. Use another --pg-table, or drop it`)
}

async function differences(client: ClientBase, t: TableNames, keyFields: readonly string[]): Promise<string[]> {
  const cols = await client.query<{ name: string; type: string; notnull: boolean }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull
       FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [t.events],
  )
  const have = new Map(cols.rows.map((r) => [r.name, r.type]))
  const problems: string[] = []
  for (const c of eventColumns(keyFields)) {
    const type = have.get(c.name)
    if (type === undefined) problems.push(`column "${c.name}" (${c.type}) is missing`)
    else if (type !== c.type) problems.push(`column "${c.name}" is ${type}, not ${c.type}`)
  }
  const wanted = new Set(eventColumns(keyFields).map((c) => c.name))
  for (const r of cols.rows) if (!wanted.has(r.name) && r.notnull) problems.push(`column "${r.name}" is NOT NULL and kion-dedup does not fill it`)
  const part = await client.query<{ key: string | null }>('SELECT pg_get_partkeydef($1::regclass) AS key', [t.events])
  const key = part.rows[0]?.key ?? null
  if (key === null) problems.push('it is not partitioned (wanted: PARTITION BY RANGE (event_time))')
  else if (key.replace(/\s+/g, ' ').toLowerCase() !== 'range (event_time)') problems.push(`it is partitioned by ${key}, not RANGE (event_time)`)
  const pk = await client.query<{ def: string }>("SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'", [t.events])
  const pkDef = pk.rows[0]?.def ?? null
  if (pkDef === null) problems.push('it has no primary key (wanted: PRIMARY KEY (event_time, digest), which refuses a second copy of an event)')
  else if (pkDef.replace(/\s+/g, ' ') !== 'PRIMARY KEY (event_time, digest)') problems.push(`its primary key is ${pkDef}, not PRIMARY KEY (event_time, digest)`)
  return problems
}

/** The days (since the epoch) of the partitions of ours that exist now. */
export async function existingDays(client: ClientBase, t: TableNames): Promise<number[]> {
  const r = await client.query<{ name: string }>('SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass', [t.events])
  const days: number[] = []
  for (const row of r.rows) {
    const d = t.dayOfPartition(row.name)
    if (d !== null) days.push(d)
  }
  return days
}

/**
 * Creates the partition of `day` unless it exists. Outside any data transaction: its lock on the
 * parent is brief. Another process making the same one at the same time is no error.
 */
export async function createPartition(client: ClientBase, t: TableNames, day: number): Promise<void> {
  const from = `${dayText(day)} 00:00:00+00`
  const to = `${dayText(day + 1)} 00:00:00+00`
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS ${t.partition(day)} PARTITION OF ${t.events} FOR VALUES FROM ('${from}') TO ('${to}')`)
  } catch (e) {
    const code = (e as { code?: string }).code
    // 42P07: made meanwhile by another process; 23505: the same race caught in the catalog;
    // 42P17: a partition of someone else's covers the day already (it takes the rows).
    if (code === '42P07' || code === '23505' || code === '42P17') return
    throw e
  }
}

/** Drops the partitions of ours whose whole day ended more than `retentionMs` before `now`; returns their names. */
export async function dropExpired(client: ClientBase, t: TableNames, retentionMs: number, now: number): Promise<string[]> {
  const dropped: string[] = []
  for (const day of await existingDays(client, t)) {
    if ((day + 1) * DAY_MS > now - retentionMs) continue
    const name = t.partition(day)
    await client.query(`DROP TABLE IF EXISTS ${name}`)
    dropped.push(name)
  }
  return dropped.sort()
}
