/**
 * @module The batch CLI's `--to postgres`: unique events become rows, committed in groups, each
 * group one transaction with the run's checkpoint (how far the input is delivered). Groups commit
 * one after another, in input order: while one commits, the next gathers what the pipeline
 * flushes meanwhile (group commit). A slab's events are views of its memory; the pipeline reuses
 * it only once `written()` says they are committed.
 */
import type { Sink } from '../../sink.js'
import type { CommitResult, InTransaction, PgWriter } from './writer.js'
import type { EventRow, RejectRow } from './rows.js'

export interface PgSinkCounts {
  stored: number
  alreadyStored: number
  unstorable: number
}

interface Group {
  rows: EventRow[]
  step: InTransaction | undefined
}

export class PostgresSink implements Sink {
  private adding: EventRow[] = []
  /** The group waiting for the commit in flight; later flushes join it. */
  private waiting: Group | null = null
  private chain: Promise<void> = Promise.resolve()
  failure: Error | null = null
  readonly counts: PgSinkCounts = { stored: 0, alreadyStored: 0, unstorable: 0 }

  constructor(
    private readonly writer: PgWriter,
    /** The statement that records progress up to what is flushed now, or undefined when it may not (events set aside). */
    private readonly checkpoint: () => InTransaction | undefined,
    /** Told of each committed group's events PostgreSQL could not store (now in the rejects table). */
    private readonly onUnstorable: (rejects: RejectRow[]) => void = () => {},
  ) {}

  event(text: Buffer, digest: Uint8Array, origin: string, originOffset: number | bigint | null): void {
    this.adding.push({ text, digest: digest.slice(0, 16), origin, originOffset })
  }

  write(): void {
    throw new Error('the postgres sink stores rows: the pipeline calls event()')
  }

  writeRange(): void {
    this.write()
  }

  writeInPlace(): void {
    this.write()
  }

  /** Everything given so far joins the next transaction, with the checkpoint as it stands now. */
  flush(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure)
    // Progress moves with rows: a stretch of duplicates alone is read again by a resumed run, harmlessly.
    if (this.adding.length === 0) return Promise.resolve()
    const step = this.checkpoint()
    const rows = this.adding
    this.adding = []
    if (this.waiting !== null) {
      for (const r of rows) this.waiting.rows.push(r)
      if (step !== undefined) this.waiting.step = step
      return Promise.resolve()
    }
    const group: Group = { rows, step }
    this.waiting = group
    this.chain = this.chain.then(async () => {
      if (this.waiting === group) this.waiting = null
      try {
        this.account(await this.writer.commit(group.rows, [], group.step))
      } catch (e) {
        this.failure ??= e instanceof Error ? e : new Error(String(e))
        throw this.failure
      }
    })
    this.chain.catch(() => {})
    return Promise.resolve()
  }

  private account(r: CommitResult): void {
    this.counts.stored += r.stored
    this.counts.alreadyStored += r.alreadyStored
    this.counts.unstorable += r.unstorable.length
    if (r.unstorable.length > 0) this.onUnstorable(r.unstorable)
  }

  /** Resolves once everything flushed so far is committed. */
  written(): Promise<void> {
    return this.chain
  }

  async close(): Promise<void> {
    await this.flush()
    await this.written()
  }
}
