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
  /** The checkpoint as of this group's last flush. */
  step: InTransaction | undefined
  committed: boolean
  /** Lets its commit start (once a connection is free). */
  begin: () => void
  done: Promise<void>
}

export class PostgresSink implements Sink {
  private adding: EventRow[] = []
  /** Groups not yet committed, in input order; the last may still gather rows (not started). */
  private readonly groups: Group[] = []
  private started = 0
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

  /**
   * Everything given so far joins a transaction, with the checkpoint as it stands now: a new one
   * when a connection is free, else the one waiting for a connection (group commit).
   */
  flush(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure)
    // Progress moves with rows: a stretch of duplicates alone is read again by a resumed run, harmlessly.
    if (this.adding.length === 0) return Promise.resolve()
    const step = this.checkpoint()
    const rows = this.adding
    this.adding = []
    const last = this.groups.at(-1)
    if (last !== undefined && this.groups.length > this.started) {
      for (const r of rows) last.rows.push(r)
      if (step !== undefined) last.step = step
      return Promise.resolve()
    }
    const group: Group = { rows, step, committed: false, begin: () => {}, done: Promise.resolve() }
    group.done = new Promise<void>((resolve) => (group.begin = resolve)).then(() => this.commit(group))
    group.done.catch(() => {})
    this.groups.push(group)
    this.startWaiting()
    return Promise.resolve()
  }

  /** Starts waiting groups while connections are free. */
  private startWaiting(): void {
    while (this.started < this.groups.length && this.started < this.writer.connections) {
      this.groups[this.started].begin()
      this.started++
    }
  }

  private async commit(group: Group): Promise<void> {
    // The checkpoint says "everything up to here is stored": only true once every earlier group
    // is committed, so a group that commits beside an earlier one leaves the checkpoint to a later one.
    const step = group.step
    const checkpoint: InTransaction | undefined =
      step === undefined
        ? undefined
        : async (client) => {
            if (this.groups[0] === group) await step(client)
          }
    try {
      this.account(await this.writer.commit(group.rows, [], checkpoint))
    } catch (e) {
      this.failure ??= e instanceof Error ? e : new Error(String(e))
      throw this.failure
    } finally {
      group.committed = true
      while (this.groups.length > 0 && this.groups[0].committed && this.started > 0) {
        this.groups.shift()
        this.started--
      }
      this.startWaiting()
    }
  }

  private account(r: CommitResult): void {
    this.counts.stored += r.stored
    this.counts.alreadyStored += r.alreadyStored
    this.counts.unstorable += r.unstorable.length
    if (r.unstorable.length > 0) this.onUnstorable(r.unstorable)
  }

  /** Resolves once everything flushed so far is committed. */
  async written(): Promise<void> {
    await Promise.all(this.groups.map((g) => g.done))
    if (this.failure !== null) throw this.failure
  }

  async close(): Promise<void> {
    await this.flush()
    await this.written()
  }
}
