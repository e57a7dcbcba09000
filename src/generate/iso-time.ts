/** @module toISOString's text, made faster for the generator: an event has six times, and toISOString took about 0.8 µs each. */

const DAY_MS = 86_400_000
const TWO_DIGITS = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, '0'))
const THREE_DIGITS = Array.from({ length: 1000 }, (_, n) => String(n).padStart(3, '0'))

/**
 * `YYYY-MM-DD` + `separator` + `hh:mm:ss.mmm` for a time in ms from 1970 on, as toISOString spells
 * it (without its `Z`). The date part is made by toISOString once a day and kept: the generator's
 * times cover a few days.
 */
export class IsoTimes {
  private readonly dates = new Map<number, string>()

  dateTime(ms: number, separator: string): string {
    const day = Math.floor(ms / DAY_MS)
    let date = this.dates.get(day)
    if (date === undefined) {
      date = new Date(day * DAY_MS).toISOString().slice(0, 10)
      this.dates.set(day, date)
    }
    const inDay = ms - day * DAY_MS
    const seconds = Math.floor(inDay / 1000)
    return `${date}${separator}${TWO_DIGITS[Math.floor(seconds / 3600)]}:${TWO_DIGITS[Math.floor(seconds / 60) % 60]}:${TWO_DIGITS[seconds % 60]}.${THREE_DIGITS[inDay % 1000]}`
  }

  /** new Date(ms).toISOString() */
  iso(ms: number): string {
    return this.dateTime(ms, 'T') + 'Z'
  }
}
