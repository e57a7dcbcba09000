/** @module Option value parsers; each error lists what is valid. */
import { InvalidArgumentError } from 'commander'
import { durationMs } from '../core/duration.js'

/** "7d", "36h", "90m", "30s", "500ms" → milliseconds. */
export function parseDuration(text: string): number {
  const ms = durationMs(text)
  if (typeof ms === 'string') throw new InvalidArgumentError(ms)
  return ms
}

export function parseFieldList(text: string): string[] {
  const fields = text.split(',').map((f) => f.trim())
  if (fields.length === 0 || fields.some((f) => f === '')) throw new InvalidArgumentError(`expected comma-separated field names, got "${text}"`)
  if (new Set(fields).size !== fields.length) throw new InvalidArgumentError(`a field is named twice in "${text}"`)
  return fields
}

export function parsePositiveInt(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive whole number, got "${text}"`)
  return n
}

export function parseNonNegativeInt(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, 0 or more, got "${text}"`)
  return n
}

export function parseRate(text: string): number {
  const n = Number(text)
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError(`expected a number from 0 up to (not including) 1, got "${text}"`)
  return n
}

/** Byte sizes: 1048576, 64k, 16m, 1g. */
export function parseBytes(text: string): number {
  const m = /^(\d+)([kmg]?)i?b?$/i.exec(text.trim())
  if (m === null) throw new InvalidArgumentError(`expected a size such as 65536, 64k or 16m, got "${text}"`)
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g']
  const bytes = Number(m[1]) * mult
  if (bytes === 0) throw new InvalidArgumentError(`a size of 0 bytes would refuse every event, got "${text}"`)
  return bytes
}

export function parseCount(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new InvalidArgumentError(`expected a whole number from 0 to 64, got "${text}"`)
  return n
}

/** A probability strictly between 0 and 1. */
export function parseProbability(text: string): number {
  const n = Number(text)
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError(`expected a number between 0 and 1 (exclusive), such as 0.001, got "${text}"`)
  return n
}
