/** @module The human report on stderr: one line per duplicate or reject, coloured only when allowed. */
import type { ChalkInstance } from 'chalk'
import type { DuplicateRecord, EventPlace, PipelineListener, RejectRecord } from '../report.js'

export function placeText(p: EventPlace): string {
  return p.line > 0 ? `${p.source}:${p.line}` : `${p.source} [element ${p.index}, byte ${p.offset}]`
}

export function textReport(write: (line: string) => void, chalk: ChalkInstance, showDuplicates: boolean): PipelineListener {
  return {
    duplicate: showDuplicates
      ? (r: DuplicateRecord) => {
          const f = r.first_seen
          const first = f === null ? 'first occurrence not recorded' : 'earlier_run' in f ? 'first seen in an earlier run (--state)' : `first seen as event #${f.event} (${f.source})`
          write(`${chalk.yellow('duplicate')} ${placeText(r)} event #${r.event} key ${r.key}: ${first}\n`)
        }
      : undefined,
    reject: (r: RejectRecord) => {
      write(`${chalk.red('rejected')}  ${placeText(r)} event #${r.event}: ${r.reason} (at byte ${r.error_offset})\n`)
    },
  }
}
