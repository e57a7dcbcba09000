/**
 * @module The Kafka offsets of `consume --to postgres`, kept in `<table>_offsets` and moved in the
 * transaction that stores a batch's events: what is stored and how far the partition is read
 * commit together or not at all. The move is fenced: it succeeds only from the offset the batch
 * continues from, so a worker that lost its partition (a rebalance, a pause longer than the
 * session) and still commits a batch it read before is refused, and stores nothing.
 */
import type { ClientBase } from 'pg'
import type { InTransaction } from '../sink/postgres/writer.js'

/** One partition's move in a batch: from the next offset the batch continues from to the one after its last message. */
export interface OffsetAdvance {
  partition: number
  /** The stored next offset the batch read on from (-1: none stored and never committed to the group either). */
  from: bigint
  /** The next offset once the batch is stored. */
  to: bigint
}

/** The stored offset moved on since this worker read it: another worker owns the partition now. */
export class OffsetFenced extends Error {}

/**
 * The batch's offsets were already moved by this very batch (same token): an earlier attempt of
 * the transaction committed, but its answer was lost with the connection. Thrown to roll back the
 * retry (which would store the rejects a second time); the batch counts as committed.
 */
export class AlreadyCommitted extends Error {}

export interface OffsetsPlace {
  /** `<table>_offsets`. */
  table: string
  group: string
  topic: string
}

/**
 * The statement that moves the offsets of `advances` inside a batch's transaction, signed with
 * `token` (unique to the batch). Throws OffsetFenced (the transaction rolls back) when a partition's
 * stored offset is not the one the batch continues from, and AlreadyCommitted when every partition
 * already stands where this batch (same token) put it.
 */
export function offsetsStep(place: OffsetsPlace, advances: readonly OffsetAdvance[], token: string): InTransaction {
  return async (client: ClientBase) => {
    let ours = 0
    // In partition order: two workers moving several partitions lock their rows in the same order.
    for (const a of [...advances].sort((x, y) => x.partition - y.partition)) {
      const key = [place.group, place.topic, a.partition]
      const moved = await client.query(
        `UPDATE ${place.table} SET next_offset = $4, writer = $5, updated_at = now() WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND next_offset = $6`,
        [...key, String(a.to), token, String(a.from)],
      )
      if (moved.rowCount === 1) continue
      const now = await client.query<{ next_offset: string; writer: string }>(`SELECT next_offset::text, writer FROM ${place.table} WHERE consumer_group = $1 AND topic = $2 AND partition = $3`, key)
      const row = now.rows[0]
      if (row === undefined) {
        // Nothing stored for the partition yet: the first batch puts the row; if another worker
        // put it meanwhile, the insert does nothing and the batch is refused.
        const put = await client.query(`INSERT INTO ${place.table} (consumer_group, topic, partition, next_offset, writer) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, [...key, String(a.to), token])
        if (put.rowCount === 1) continue
        throw new OffsetFenced(`partition ${place.topic}/${a.partition}: another worker stored its first offsets meanwhile (${place.table}); this batch is not stored, the partition belongs to another worker now`)
      }
      if (BigInt(row.next_offset) === a.to && row.writer === token) {
        ours++
        continue
      }
      throw new OffsetFenced(
        `partition ${place.topic}/${a.partition}: stored next offset is ${row.next_offset} (written by ${row.writer}), not ${a.from < 0n ? 'absent' : a.from} as this batch read it; another worker owns the partition now, this batch is not stored`,
      )
    }
    if (ours > 0 && ours === advances.length) throw new AlreadyCommitted('the batch was committed by an earlier attempt whose answer was lost')
    // Some partitions moved by an earlier attempt of this batch and some not cannot be: one transaction moves them all.
    if (ours > 0) throw new OffsetFenced(`offsets of ${place.table} moved by this batch for some partitions only: refusing the batch`)
  }
}

/** The stored next offsets of `partitions` (those without a row are absent). */
export async function storedOffsets(query: (sql: string, params: unknown[]) => Promise<{ rows: Array<{ partition: number; next_offset: string }> }>, place: OffsetsPlace, partitions: readonly number[]): Promise<Map<number, bigint>> {
  const next = new Map<number, bigint>()
  if (partitions.length === 0) return next
  const r = await query(`SELECT partition, next_offset::text FROM ${place.table} WHERE consumer_group = $1 AND topic = $2 AND partition = ANY($3::int[])`, [place.group, place.topic, partitions])
  for (const row of r.rows) next.set(row.partition, BigInt(row.next_offset))
  return next
}
