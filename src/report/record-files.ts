/** @module Machine-readable reports: --report (one NDJSON record per duplicate/reject) and --rejects (each rejected input with its reason). */
import type { DuplicateRecord, PipelineListener, RejectRecord } from '../report.js'

/** Where record lines go: `flush` resolves once the destination has taken what was written. */
export interface RecordOutput {
  write(line: string): void
  flush(): Promise<void>
}

export function ndjsonReport({ write, flush }: RecordOutput): PipelineListener {
  return {
    flush,
    duplicate: (r: DuplicateRecord) => write(JSON.stringify(r) + '\n'),
    reject: (r: RejectRecord) => write(JSON.stringify(r) + '\n'),
  }
}

/**
 * Each reject as `{...record, "input": "<the text as read>"}`; when the bytes are not valid
 * UTF-8 the exact bytes are also given as `input_base64`, so nothing is lost.
 */
export function rejectsFile({ write, flush }: RecordOutput): PipelineListener {
  return {
    flush,
    reject: (r: RejectRecord, input: Uint8Array) => {
      const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength)
      const text = bytes.toString('utf8')
      const exact = Buffer.byteLength(text) === bytes.length && Buffer.from(text).equals(bytes)
      write(JSON.stringify({ ...r, input: text, ...(exact ? {} : { input_base64: bytes.toString('base64') }) }) + '\n')
    },
  }
}
