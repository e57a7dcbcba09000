/** @module Exit statuses, in one table (README "Exit status" lists the same). */
import { InvalidArgumentError } from 'commander'
import { InputError } from '../framing.js'
import { StateFileError } from '../store/memory/state-file.js'
import { SourceError } from '../source/file-source.js'

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
  if (e instanceof UsageError || e instanceof InvalidArgumentError) return EXIT.usage
  return EXIT.failure
}

/** One line for people: known errors without a stack. */
export function describeError(e: unknown): string {
  if (e instanceof InputError || e instanceof StateFileError || e instanceof SourceError || e instanceof UsageError) return e.message
  const err = e as NodeJS.ErrnoException
  if (err && typeof err.code === 'string' && err.path) return `${err.code === 'ENOENT' ? 'no such file' : err.code}: ${err.path}`
  return err instanceof Error ? err.message : String(e)
}
