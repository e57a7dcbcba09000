/**
 * @module One transaction per batch into PostgreSQL: the unique events (the table refuses a copy
 * it already holds: ON CONFLICT DO NOTHING), the rejects, and the caller's own statement (a
 * checkpoint, or fenced Kafka offsets) commit together or not at all. While the database is away
 * the whole transaction is tried again, so a retry never doubles a row and never loses one.
 */
import pg from 'pg'
import type { ClientBase } from 'pg'
import { clientConfig, describeConnectError, errorText, isDataError, isTransient, PgConfigError, redactPgUrl } from './connection.js'
import { createPartition, DAY_MS, dropExpired, ensureSchema, existingDays, quoteIdent, TableNames } from './schema.js'
import { RowReader, type EventRow, type RejectRow, type RowColumns, type RowRules } from './rows.js'

export interface PgWriterOptions {
  url: string
  table: string
  rules: RowRules
  /** How long a transaction is tried again while the database is away, before the writer gives up (PgUnavailable). */
  retryMs: number
  connectTimeoutMs?: number
  /** Partitions made ahead of need: today and this many days after. */
  daysAhead?: number
  /** Connections, each running one transaction at a time (default 1). A second one measured 1.5x the rows/s. */
  connections?: number
  log?: (record: Record<string, unknown>) => void
}

/** The caller's statement inside the batch's transaction; it may throw (a fence) to abort it. */
export type InTransaction = (client: ClientBase) => Promise<void>

export interface CommitResult {
  /** Rows the table took. */
  stored: number
  /** Rows the table already held (a rerun, or a copy the store could not know of). */
  alreadyStored: number
  /** Events PostgreSQL cannot store, now in the rejects table with why. */
  unstorable: RejectRow[]
}

/** The database stayed away longer than the retry allowed: nothing of the batch was committed. */
export class PgUnavailable extends Error {}

/** A connection and the work queued on it: one transaction at a time. */
interface Lane {
  client: pg.Client | null
  turn: Promise<unknown>
  queued: number
}

const FIRST_RETRY_MS = 100
/** Rows of one INSERT statement: about the fastest batch measured, and far below the 65,535 parameters a statement may have. */
const ROWS_PER_STATEMENT = 1000
const LONGEST_RETRY_MS = 2000

export class PgWriter {
  readonly names: TableNames
  private readonly lanes: Lane[]
  private readonly reader: RowReader
  private readonly knownDays = new Set<number>()
  private readonly insertHead: string
  private readonly columnsPerRow: number
  private readonly insertSqlByRows = new Map<number, string>()
  private maintainer: NodeJS.Timeout | null = null
  private closed = false

  private constructor(private readonly options: PgWriterOptions) {
    this.names = new TableNames(options.table)
    this.lanes = Array.from({ length: Math.max(1, options.connections ?? 1) }, () => ({ client: null, turn: Promise.resolve(), queued: 0 }))
    this.reader = new RowReader(options.rules)
    const keys = options.rules.keyFields
    this.columnsPerRow = keys.length + 5
    this.insertHead = `INSERT INTO ${this.names.events} (${['digest', ...keys.map(quoteIdent), 'event_time', 'event', 'origin', 'origin_offset'].join(', ')}) VALUES `
  }

  /** `INSERT … VALUES (…),(…) ON CONFLICT DO NOTHING` for `n` rows; the text is kept per row count. */
  private insertSql(n: number): string {
    let sql = this.insertSqlByRows.get(n)
    if (sql === undefined) {
      const c = this.columnsPerRow
      const tuples: string[] = new Array(n)
      for (let i = 0; i < n; i++) {
        const p: string[] = new Array(c)
        for (let j = 0; j < c; j++) p[j] = `$${i * c + j + 1}`
        tuples[i] = `(${p.join(',')})`
      }
      sql = `${this.insertHead}${tuples.join(',')} ON CONFLICT DO NOTHING`
      if (this.insertSqlByRows.size > 64) this.insertSqlByRows.clear()
      this.insertSqlByRows.set(n, sql)
    }
    return sql
  }

  /**
   * Connects, creates or checks the tables, makes the partitions ahead of need and drops those past
   * retention. Fails with a clear message (PgConfigError: wrong credentials, a table that differs;
   * else unreachable) before the caller consumes anything.
   */
  static async open(options: PgWriterOptions): Promise<PgWriter> {
    const w = new PgWriter(options)
    const client = await w.connect(w.lanes[0])
    try {
      await ensureSchema(client, w.names, options.rules.keyFields)
      for (const d of await existingDays(client, w.names)) w.knownDays.add(d)
      await w.maintainOn(client)
    } catch (e) {
      await w.close()
      if (e instanceof PgConfigError) throw e
      throw new PgConfigError(`PostgreSQL at ${redactPgUrl(options.url)}: ${errorText(e)}`)
    }
    return w
  }

  get where(): string {
    return redactPgUrl(this.options.url)
  }

  private async connect(lane: Lane): Promise<pg.Client> {
    if (lane.client !== null) return lane.client
    const client = new pg.Client(clientConfig(this.options.url, this.options.connectTimeoutMs ?? 5000))
    // A connection that breaks between batches: the next batch connects again.
    client.on('error', () => {
      if (lane.client === client) lane.client = null
    })
    try {
      await client.connect()
    } catch (e) {
      client.end().catch(() => {})
      throw describeConnectError(e, this.options.url)
    }
    lane.client = client
    return client
  }

  private dropConnection(lane: Lane): void {
    const c = lane.client
    lane.client = null
    c?.end().catch(() => {})
  }

  /** Makes the partitions of today and the days ahead, drops those past retention, and again every hour until close(). */
  startMaintenance(everyMs = 3600_000): void {
    this.maintainer = setInterval(() => {
      const lane = this.lanes[0]
      this.serialized(lane, async () => this.maintainOn(await this.connect(lane))).catch((e: unknown) => this.options.log?.({ level: 'warn', msg: 'partition maintenance failed; trying again later', error: errorText(e) }))
    }, everyMs)
    this.maintainer.unref()
  }

  private async maintainOn(client: ClientBase): Promise<void> {
    const today = Math.floor(this.options.rules.now() / DAY_MS)
    for (let d = today; d <= today + (this.options.daysAhead ?? 2); d++) await this.partitionFor(client, d)
    const keep = this.options.rules.retentionMs
    if (keep === null) return
    const dropped = await dropExpired(client, this.names, keep, this.options.rules.now())
    for (const name of dropped) {
      const day = this.names.dayOfPartition(name.slice(name.lastIndexOf('.') + 1))
      if (day !== null) this.knownDays.delete(day)
    }
    if (dropped.length > 0) this.options.log?.({ level: 'info', msg: 'dropped partitions past retention', partitions: dropped })
  }

  private async partitionFor(client: ClientBase, day: number): Promise<void> {
    if (this.knownDays.has(day)) return
    await createPartition(client, this.names, day)
    this.knownDays.add(day)
  }

  private serialized<T>(lane: Lane, work: () => Promise<T>): Promise<T> {
    lane.queued++
    const run = lane.turn.then(work, work).finally(() => lane.queued--)
    lane.turn = run.catch(() => {})
    return run
  }

  /** The connection with the least work queued. */
  private freeLane(): Lane {
    let best = this.lanes[0]
    for (const lane of this.lanes) if (lane.queued < best.queued) best = lane
    return best
  }

  /** Transactions that may run at once (the connections). */
  get connections(): number {
    return this.lanes.length
  }

  /**
   * Stores `rows` (unique events) and `rejects`, and runs `step`, in one transaction. Rows that
   * PostgreSQL cannot store go to the rejects table with the reason. While the database is away
   * the transaction is tried again for up to `retryMs`; then PgUnavailable, nothing committed.
   */
  commit(rows: readonly EventRow[], rejects: readonly RejectRow[], step?: InTransaction, retryMs = this.options.retryMs): Promise<CommitResult> {
    const lane = this.freeLane()
    return this.serialized(lane, () => this.commitNow(lane, rows, rejects, step, retryMs))
  }

  private async commitNow(lane: Lane, rows: readonly EventRow[], rejects: readonly RejectRow[], step: InTransaction | undefined, retryMs: number): Promise<CommitResult> {
    if (this.closed) throw new Error('the PostgreSQL writer is closed')
    const good: Array<{ row: EventRow; columns: RowColumns }> = []
    const unstorable: RejectRow[] = []
    for (const row of rows) {
      const columns = this.reader.read(row.text)
      if (typeof columns === 'string') unstorable.push({ origin: row.origin, originOffset: row.originOffset, reason: columns, event: row.text })
      else good.push({ row, columns })
    }
    const started = Date.now()
    let wait = FIRST_RETRY_MS
    for (let attempt = 1; ; attempt++) {
      try {
        const client = await this.connect(lane)
        for (const g of good) await this.partitionFor(client, g.columns.day)
        return await this.transaction(client, good, [...rejects], unstorable, step)
      } catch (e) {
        const missingPartition = (e as { code?: string }).code === '23514'
        if (missingPartition) this.knownDays.clear()
        if (!isTransient(e) && !(missingPartition && attempt < 3)) throw e
        this.dropConnection(lane)
        if (Date.now() - started >= retryMs) throw new PgUnavailable(`PostgreSQL at ${this.where} unavailable for ${Math.round((Date.now() - started) / 1000)} s (${attempt} attempts): ${errorText(e)}`)
        this.options.log?.({ level: 'warn', msg: 'PostgreSQL unavailable; trying the batch again', error: errorText(e), attempt })
        await new Promise((resolve) => setTimeout(resolve, Math.min(wait, Math.max(0, retryMs - (Date.now() - started)))))
        wait = Math.min(LONGEST_RETRY_MS, wait * 2)
      }
    }
  }

  private async transaction(client: ClientBase, good: Array<{ row: EventRow; columns: RowColumns }>, rejects: RejectRow[], unstorable: RejectRow[], step: InTransaction | undefined): Promise<CommitResult> {
    await client.query('BEGIN')
    try {
      let stored = 0
      const refused: RejectRow[] = [...unstorable]
      try {
        stored = await this.insert(client, good)
      } catch (e) {
        if (!isDataError(e)) throw e
        // Some row's data is refused (a check of ours missed it): store them one by one, each
        // behind a savepoint, and keep those refused as rejects with PostgreSQL's reason.
        await client.query('ROLLBACK')
        await client.query('BEGIN')
        stored = 0
        for (const g of good) {
          await client.query('SAVEPOINT one_row')
          try {
            stored += await this.insert(client, [g])
            await client.query('RELEASE SAVEPOINT one_row')
          } catch (f) {
            if (!isDataError(f)) throw f
            await client.query('ROLLBACK TO SAVEPOINT one_row')
            refused.push({ origin: g.row.origin, originOffset: g.row.originOffset, reason: `PostgreSQL refused it: ${errorText(f)}`, event: g.row.text })
          }
        }
      }
      const allRejects = [...rejects, ...refused]
      if (allRejects.length > 0) await this.insertRejects(client, allRejects)
      if (step !== undefined) await step(client)
      await client.query('COMMIT')
      return { stored, alreadyStored: good.length - stored - (refused.length - unstorable.length), unstorable: refused }
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {})
      throw e
    }
  }

  /**
   * Multi-row INSERT with parameters, up to ROWS_PER_STATEMENT rows a statement: measured fastest
   * (bench/README.md, "Writing to PostgreSQL"). unnest over arrays was 2.3x slower, all of it in the
   * client escaping each event into an array literal; COPY through a staging table compresses
   * every event twice.
   */
  private async insert(client: ClientBase, good: Array<{ row: EventRow; columns: RowColumns }>): Promise<number> {
    let stored = 0
    const keyCount = this.options.rules.keyFields.length
    for (let from = 0; from < good.length; from += ROWS_PER_STATEMENT) {
      const part = good.slice(from, from + ROWS_PER_STATEMENT)
      const params: unknown[] = []
      for (const { row, columns } of part) {
        params.push(Buffer.from(row.digest.buffer, row.digest.byteOffset, row.digest.byteLength))
        for (let f = 0; f < keyCount; f++) params.push(columns.keys[f])
        params.push(new Date(columns.time).toISOString(), row.text.toString('utf8'), row.origin, row.originOffset === null ? null : String(row.originOffset))
      }
      const r = await client.query(this.insertSql(part.length), params)
      stored += r.rowCount ?? 0
    }
    return stored
  }

  private async insertRejects(client: ClientBase, rejects: RejectRow[]): Promise<void> {
    await client.query(`INSERT INTO ${this.names.rejects} (origin, origin_offset, reason, event) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bytea[])`, [
      rejects.map((r) => r.origin),
      rejects.map((r) => (r.originOffset === null ? null : String(r.originOffset))),
      rejects.map((r) => r.reason),
      rejects.map((r) => r.event),
    ])
  }

  /** A query outside any batch (reading offsets or a checkpoint), tried again while the database is away. */
  query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = [], retryMs = this.options.retryMs): Promise<pg.QueryResult<R>> {
    const lane = this.lanes[0]
    return this.serialized(lane, async () => {
      const started = Date.now()
      for (;;) {
        try {
          return await (await this.connect(lane)).query<R>(sql, params)
        } catch (e) {
          if (!isTransient(e)) throw e
          this.dropConnection(lane)
          if (Date.now() - started >= retryMs) throw new PgUnavailable(`PostgreSQL at ${this.where} unavailable: ${errorText(e)}`)
          await new Promise((resolve) => setTimeout(resolve, FIRST_RETRY_MS))
        }
      }
    })
  }

  async close(): Promise<void> {
    if (this.maintainer !== null) clearInterval(this.maintainer)
    await Promise.all(this.lanes.map((l) => l.turn))
    this.closed = true
    await Promise.all(
      this.lanes.map((l) => {
        const c = l.client
        l.client = null
        return c?.end().catch(() => {})
      }),
    )
  }
}
