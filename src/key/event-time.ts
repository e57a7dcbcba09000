/** @module Event times for --clock event: ISO 8601 strings (a time without a zone is UTC) or epoch numbers. */

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i

/** The range of a JS Date (±100,000,000 days): past it a time is no time, and bucket arithmetic would lose integers. */
export const MAX_EVENT_TIME_MS = 8.64e15

/**
 * Milliseconds since the epoch, or NaN. Numbers (and numeric strings) below 1e11 are
 * seconds, larger ones milliseconds: 1e11 s is the year 5138, 1e11 ms is 1973.
 */
export function parseEventTime(text: string, isNumber: boolean): number {
  const trimmed = text.trim()
  if (isNumber || /^\d+(\.\d+)?$/.test(trimmed)) {
    const n = Number(trimmed)
    if (!Number.isFinite(n)) return NaN
    const ms = Math.abs(n) < 1e11 ? n * 1000 : n
    return Math.abs(ms) <= MAX_EVENT_TIME_MS ? ms : NaN
  }
  const m = ISO.exec(trimmed)
  if (m === null) return NaN
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m
  const ms = Number((frac + '000').slice(0, 3))
  const date = new Date(Date.UTC(2000, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms))
  // setUTCFullYear, not Date.UTC, which reads years 0..99 as 1900..1999.
  date.setUTCFullYear(Number(y))
  let t = date.getTime()
  if (Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) return NaN
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60000
  }
  return t
}
