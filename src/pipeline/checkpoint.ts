/**
 * @module Checkpoints of a batch run: how far it had delivered, durably, so that a rerun after a kill
 * goes on from there instead of from the start. Saved at a slab boundary, after the output was made
 * durable: with --state, inside the state file together with the keys (one atomic rename); with
 * Redis, as a small JSON file beside the output (or --checkpoint FILE).
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'

export const CHECKPOINT_VERSION = 1

/** An input as the checkpoint names it: its path ('-' for stdin) and, for a file, its size. */
export interface InputId {
  name: string
  size: number | null
}

export interface Checkpoint {
  version: number
  /** The run's inputs, in order: a rerun over other inputs does not resume. */
  inputs: InputId[]
  /** The settings that decide keys and output (key fields, clock, format, --emit-key). */
  settings: string
  /** Events (run-wide, in input order) delivered durably: a resumed run skips this many. */
  events: number
  /** Where the last of them started, to check that the rerun reads the same input. */
  last: { source: string; offset: number } | null
  /** The output file and its length at the checkpoint; a resumed run cuts it back to that. null: stdout. */
  output: { path: string; bytes: number } | null
  /** Redis: owners whose reservations past `after` (an event number) a resumed run takes over as its own. */
  owners: Array<{ owner: string; after: number }>
  /** When it was saved (ISO 8601), for messages. */
  savedAt: string
}

/** A checkpoint that cannot be used: exit 1 (corrupt) or 2 (another run's; see the message). */
export class CheckpointError extends Error {}

/** Checks a value read from disk; throws CheckpointError naming `where`. */
export function parseCheckpoint(value: unknown, where: string): Checkpoint {
  const c = value as Partial<Checkpoint> | null
  const ok =
    c !== null &&
    typeof c === 'object' &&
    c.version === CHECKPOINT_VERSION &&
    Array.isArray(c.inputs) &&
    typeof c.settings === 'string' &&
    typeof c.events === 'number' &&
    Number.isInteger(c.events) &&
    c.events >= 0 &&
    Array.isArray(c.owners) &&
    typeof c.savedAt === 'string'
  if (!ok) throw new CheckpointError(`${where}: not a usable checkpoint (version ${String(c?.version)}; this kion-dedup writes version ${CHECKPOINT_VERSION})`)
  return c as Checkpoint
}

/** null when `c` was saved by a run over the same inputs with the same settings; else why not. */
export function differs(c: Checkpoint, inputs: readonly InputId[], settings: string): string | null {
  if (c.settings !== settings) return `it was made with other settings (${c.settings}; this run: ${settings})`
  const names = (list: readonly InputId[]) => list.map((i) => `${i.name}${i.size === null ? '' : ` (${i.size} bytes)`}`).join(', ')
  if (c.inputs.length !== inputs.length || c.inputs.some((x, i) => x.name !== inputs[i].name || x.size !== inputs[i].size)) return `it was made over other inputs (${names(c.inputs)}; this run: ${names(inputs)})`
  return null
}

export function readCheckpointFile(path: string): Checkpoint | null {
  if (!existsSync(path)) return null
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    throw new CheckpointError(`${path}: unreadable checkpoint (${(e as Error).message}); remove it to start over`)
  }
  return parseCheckpoint(value, path)
}

/** Written to a temporary file, fsynced, then renamed over `path`: a kill leaves the old one or the new one. */
export function writeCheckpointFile(path: string, c: Checkpoint): void {
  const tmp = `${path}.tmp-${process.pid}`
  const fd = openSync(tmp, 'w', 0o644)
  try {
    const text = Buffer.from(JSON.stringify(c) + '\n')
    let off = 0
    while (off < text.length) off += writeSync(fd, text, off, text.length - off)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
}

export function removeCheckpointFile(path: string): void {
  try {
    unlinkSync(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
}
