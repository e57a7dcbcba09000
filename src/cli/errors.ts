/** @module Exit statuses, in one table (README "Exit status" lists the same). */
import { InvalidArgumentError } from 'commander'
import { InputError } from '../framing.js'
import { StateFileError } from '../store/memory/state-file.js'
import { SourceError } from '../source/file-source.js'
import { StoreFailure } from '../pipeline/dedup-pipeline.js'
// The error classes only, not the Redis client: this module is on every command's start-up path.
import { RedisStartError, RedisUnavailableError, RedisCommandError } from '../store/redis/retry-policy.js'
import { KafkaUnavailableError } from '../kafka/client.js'
import { DedupError, DedupOptionsError } from '../errors.js'
import { CheckpointError } from '../pipeline/checkpoint.js'

export const EXIT = {
  ok: 0,
  /** A runtime failure: unreadable input file, broken input structure, unusable state file, failed output. */
  failure: 1,
  /** Bad command line. */
  usage: 2,
  /** --strict and at least one input was rejected. */
  rejects: 3,
} as const

/** 128 + the signal number, as shells report a death by signal. */
export const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 }

/** A bad combination of options found after parsing (commander reports the rest itself); exit 2. */
export class UsageError extends Error {}

export function exitStatusFor(e: unknown): number {
  if (e instanceof UsageError || e instanceof DedupOptionsError || e instanceof InvalidArgumentError) return EXIT.usage
  return EXIT.failure
}

/** One line for people: known errors without a stack. */
export function describeError(e: unknown): string {
  if (e instanceof StoreFailure) return resumeAdvice(e)
  if (e instanceof RedisStartError || e instanceof KafkaUnavailableError || e instanceof InputError || e instanceof StateFileError || e instanceof SourceError || e instanceof UsageError || e instanceof DedupError || e instanceof CheckpointError) return e.message
  const err = e as NodeJS.ErrnoException
  if (err && typeof err.code === 'string' && err.path) return `${err.code === 'ENOENT' ? 'no such file' : err.code}: ${err.path}`
  return err instanceof Error ? err.message : String(e)
}

/** What a run stopped by its store tells the user: how far it got, and how to go on losing nothing. */
function resumeAdvice(e: StoreFailure): string {
  const at = e.resumeAt
  const where = at.line > 0 ? `${at.source} line ${at.line}` : `${at.source} event ${at.index}`
  const lines = [
    `${e.message}`,
    `kion-dedup: stopped at ${where} (byte ${at.offset}, event ${at.event} of the run): every event before it was output or reported a duplicate; none from it on was.`,
  ]
  if (e.cause instanceof RedisUnavailableError || e.cause instanceof RedisCommandError) {
    lines.push(
      `kion-dedup: to go on, rerun from there (or the whole input again) with --redis-resume ${e.cause.resumeToken}: it outputs the events the failed batch may have remembered in Redis without outputting.`,
    )
  }
  return lines.join('\n')
}

