/** @module The final summary, as text for people. (--stats-json writes the Summary object itself.) */
import type { ChalkInstance } from 'chalk'
import type { Summary } from '../report.js'

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(1)} ${units[u]}`
}

export function formatSummary(s: Summary, chalk: ChalkInstance): string {
  const secs = s.elapsed_ms / 1000
  const lines = [
    `${chalk.bold('kion-dedup')}: read ${s.read}, ${chalk.green(`unique ${s.unique}`)}, ${chalk.yellow(`duplicate ${s.duplicate}`)}, ${s.rejected > 0 ? chalk.red(`rejected ${s.rejected}`) : 'rejected 0'}` +
      (s.late > 0 ? `, late ${s.late}` : ''),
    `  ${secs.toFixed(2)} s, ${s.events_per_second} events/s, ${formatBytes(s.bytes_read)} read; store ${s.store.backend}: ${s.store.keys} keys ${s.store.bytes !== null ? `in ${formatBytes(s.store.bytes)}` : 'added'}` +
      (s.store.bytes_per_key !== null ? ` (${s.store.bytes_per_key} B/key${s.store.fixed_bytes > 0 ? ` + ${formatBytes(s.store.fixed_bytes)} first-seen cache` : ''}; the store only, not the process)` : ''),
  ]
  const pg = s.postgres
  if (pg !== undefined) lines.push(`  postgres ${pg.table}: stored ${pg.stored}, already there ${pg.alreadyStored}` + (pg.unstorable > 0 ? chalk.red(`, not storable ${pg.unstorable} (in ${pg.table}_rejects)`) : ''))
  if (s.stopped) lines.push(chalk.red(`  stopped early: ${s.stopped}`))
  return lines.join('\n') + '\n'
}
