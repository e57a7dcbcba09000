/**
 * @module The main job's side of `--to postgres`: the writer, opened before any input is read, and
 * the run's checkpoint, kept in `<table>_checkpoints` and written in the transaction of each batch.
 * A run is named by its inputs: a rerun of an interrupted run over the same files finds its
 * checkpoint and goes on after it (as with the other checkpoints); a run to the end leaves none.
 */
import { createHash } from 'node:crypto'
import type { ClientBase } from 'pg'
import type { Checkpoint, InputId } from '../pipeline/checkpoint.js'
import type { CheckpointPlace } from './checkpoints.js'
import { openPgWriter, type PostgresCliOptions } from './shared-options.js'
import type { PgWriter } from '../sink/postgres/writer.js'
import type { CliIo } from './io.js'

export interface PostgresRun {
  writer: PgWriter
  place: CheckpointPlace
  /** The checkpoint an interrupted run over the same inputs left; null when none. */
  found: unknown
  /** The statement that records `cp` inside a batch's transaction. */
  checkpointStep(cp: Checkpoint): (client: ClientBase) => Promise<void>
  /** The run went to the end: its checkpoint goes. */
  finished(): Promise<void>
}

/** A run's name in the checkpoints table: its inputs, in order. */
export function runName(inputs: readonly InputId[]): string {
  return createHash('sha256').update(JSON.stringify(inputs.map((i) => i.name))).digest('hex').slice(0, 32)
}

export async function openPostgresRun(o: PostgresCliOptions & { key: string[]; timeField: string }, io: CliIo, inputs: readonly InputId[], restart: boolean): Promise<PostgresRun> {
  const writer = await openPgWriter(o, io.env, (r) => {
    const detail = [r.partitions !== undefined ? (r.partitions as string[]).join(', ') : null, r.error !== undefined ? String(r.error) : null, r.attempt !== undefined ? `attempt ${String(r.attempt)}` : null].filter((x) => x !== null)
    io.stderr.write(`kion-dedup: ${String(r.msg)}${detail.length > 0 ? `: ${detail.join('; ')}` : ''}\n`)
  })
  const table = writer.names.checkpoints
  const run = runName(inputs)
  try {
    if (restart) await writer.query(`DELETE FROM ${table} WHERE run = $1`, [run])
    const r = await writer.query<{ checkpoint: unknown }>(`SELECT checkpoint FROM ${table} WHERE run = $1`, [run])
    return {
      writer,
      place: { kind: 'postgres', path: `${table} (run ${run})` },
      found: r.rows[0]?.checkpoint ?? null,
      checkpointStep: (cp) => async (client) => {
        await client.query(`INSERT INTO ${table} (run, checkpoint) VALUES ($1, $2) ON CONFLICT (run) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, updated_at = now()`, [run, JSON.stringify(cp)])
      },
      finished: async () => {
        await writer.query(`DELETE FROM ${table} WHERE run = $1`, [run])
      },
    }
  } catch (e) {
    await writer.close()
    throw e
  }
}
