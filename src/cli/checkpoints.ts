/**
 * @module The main job's checkpoints: where they live (in the --state file, or a file beside the
 * output for Redis), whether an earlier run left one to resume from, and saving one. The rules:
 * a rerun of an interrupted run (same inputs, same settings) resumes by itself, saying so on
 * stderr, because a cron job's retry is exactly that rerun; a checkpoint of another run stops the
 * job (exit 2) instead of silently skipping events; --restart discards it.
 */
import { fstatSync, fsync as fsyncCallback, ftruncateSync, openSync, closeSync } from 'node:fs'
import { promisify } from 'node:util'
import { saveState, type MemoryStore } from '../store/memory/index.js'
import { CHECKPOINT_VERSION, CheckpointError, differs, parseCheckpoint, readCheckpointFile, removeCheckpointFile, writeCheckpointFile, type Checkpoint, type InputId } from '../pipeline/checkpoint.js'
import type { Progress } from '../pipeline/dedup-pipeline.js'
import { UsageError } from './errors.js'

const fsync = promisify(fsyncCallback)

/** Where this run's checkpoints go: inside the state file (memory), or a file of their own (Redis). */
export type CheckpointPlace = { kind: 'state'; path: string } | { kind: 'file'; path: string } | { kind: 'postgres'; path: string }

export interface CheckpointOptions {
  backend: 'memory' | 'redis'
  state?: string
  approx?: boolean
  output?: string
  checkpoint?: string
}

/** null: this run keeps no checkpoints (memory without --state: nothing to resume with). */
export function checkpointPlace(o: CheckpointOptions): CheckpointPlace | null {
  if (o.backend === 'redis') {
    const path = o.checkpoint ?? (o.output !== undefined ? `${o.output}.checkpoint` : undefined)
    return path === undefined ? null : { kind: 'file', path }
  }
  if (o.checkpoint !== undefined) throw new UsageError('--checkpoint goes with --backend redis; with the memory store the checkpoint is kept in the --state file')
  return o.state !== undefined && o.approx !== true ? { kind: 'state', path: o.state } : null
}

/** The checkpoint a Redis run left in its file (read before the store opens: the run takes over its reservations). */
export function readFileCheckpoint(place: CheckpointPlace | null): Checkpoint | null {
  return place?.kind === 'file' ? readCheckpointFile(place.path) : null
}

export interface ResumeChoice {
  /** --restart: discard any checkpoint. */
  restart: boolean
  /** --resume: go on from the checkpoint even over stdin, which cannot be recognised as the same input. */
  force: boolean
}

/**
 * Decides whether to resume from `found`: the checkpoint, or null (none, --restart, or a run over
 * stdin without --resume: then `note` says so). A checkpoint of a run over other files, or with
 * other settings, is a usage error naming the difference: a cron job must not skip events silently.
 */
export function toResume(place: CheckpointPlace, found: unknown, inputs: readonly InputId[], settings: string, choice: ResumeChoice): { resume: Checkpoint | null; note?: string } {
  if (found === null || found === undefined) return { resume: null }
  const cp = parseCheckpoint(found, place.path)
  if (choice.restart) {
    if (place.kind === 'file') removeCheckpointFile(place.path)
    return { resume: null }
  }
  if (!choice.force && inputs.some((i) => i.size === null)) {
    // stdin (or a pipe) is a new stream each run, mostly: its keys count, its position does not.
    return { resume: null, note: `${place.path} holds the checkpoint of an interrupted run (saved ${cp.savedAt}, ${cp.events} events delivered); this run reads stdin, which cannot be told the same input, so it starts from its beginning (add --resume to skip what that run delivered)` }
  }
  const why = differs(cp, inputs, settings)
  if (why !== null) {
    throw new UsageError(`${place.path} holds the checkpoint of an interrupted run (saved ${cp.savedAt}), but ${why}. Rerun that run's command to finish it, or add --restart to discard the checkpoint and start from the beginning`)
  }
  return { resume: cp }
}

/** Cuts a resumed run's output file back to the checkpoint's length (what was written after it is written again). */
export function cutOutputBack(path: string, cp: Checkpoint): void {
  if (cp.output === null) return
  if (cp.output.path !== path) throw new UsageError(`the interrupted run wrote to ${cp.output.path}, this one to ${path}: use the same -o to resume, or --restart`)
  const fd = openSync(path, 'r+')
  try {
    const size = fstatSync(fd).size
    if (size < cp.output.bytes) throw new CheckpointError(`${path} has ${size} bytes, fewer than the ${cp.output.bytes} its checkpoint says were written: it was changed since; --restart to start over`)
    ftruncateSync(fd, cp.output.bytes)
  } finally {
    closeSync(fd)
  }
}

export interface Saver {
  place: CheckpointPlace
  inputs: InputId[]
  settings: string
  /** The output file's descriptor (fsynced before a checkpoint) and path; null for stdout. */
  output: { fd: number; path: string } | null
  /** Redis: this run's owner, and the owners it took over from a resumed run. */
  owner: string | null
  adopted: Array<{ owner: string; after: number }>
  /** Memory: the store whose keys are saved with the checkpoint. */
  exact: MemoryStore | null
  keyFields: readonly string[]
  clock: string
}

/** Makes the output durable, then saves where the run stands; `progress` null: the run is done, nothing to resume (the checkpoint goes). */
export async function saveCheckpoint(s: Saver, progress: Progress | null): Promise<void> {
  if (s.output !== null) await fsync(s.output.fd)
  const cp: Checkpoint | undefined =
    progress === null ? undefined : { ...checkpointOf(progress, s.inputs, s.settings, s.owner, s.adopted), output: s.output === null ? null : { path: s.output.path, bytes: fstatSync(s.output.fd).size } }
  if (s.place.kind === 'state') {
    if (s.exact !== null) saveState(s.place.path, s.exact, s.keyFields, s.clock, cp)
  } else if (cp === undefined) removeCheckpointFile(s.place.path)
  else writeCheckpointFile(s.place.path, cp)
}

/** The checkpoint of a run that has delivered `progress` (with no output file: stdout, or a table). */
export function checkpointOf(progress: Progress, inputs: InputId[], settings: string, owner: string | null, adopted: Array<{ owner: string; after: number }>): Checkpoint {
  return {
    version: CHECKPOINT_VERSION,
    inputs,
    settings,
    events: progress.events,
    last: progress.last,
    output: null,
    owners: owner === null ? [] : [...adopted, { owner, after: progress.events }],
    savedAt: new Date().toISOString(),
  }
}
