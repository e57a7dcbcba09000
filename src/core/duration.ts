/** @module Durations as people write them ("7d", "36h", "90m", "30s", "500ms"), for the CLI's options and the library's alike. */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Milliseconds, or a message saying what is wrong (the caller throws its own kind of error). */
export function durationMs(text: string): number | string {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim())
  if (m === null) return `expected a duration such as 7d, 36h, 90m, 30s or 500ms, got "${text}"`
  const ms = Number(m[1]) * UNITS[m[2]]
  if (!(ms > 0)) return `the duration must be positive, got "${text}"`
  // Timers, windows and clocks all count whole milliseconds: less is no duration anyone could mean.
  if (ms < 1) return `the duration must be at least 1ms, got "${text}"`
  return ms
}
