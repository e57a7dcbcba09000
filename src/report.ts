/** @module What the pipeline tells its listeners: duplicates, rejects, progress and the final summary. Renderers live in report/. */

export interface EventPlace {
  source: string
  /** NDJSON line (1-based); 0 for JSON input, where `index` places the element. */
  line: number
  /** 1-based event number within the source. */
  index: number
  /** Byte offset of the event within the source. */
  offset: number
  /** 1-based event number within the whole run (all sources), as `first_seen` refers to it. */
  event: number
}

export interface DuplicateRecord extends EventPlace {
  type: 'duplicate'
  key: string
  /** Where the first occurrence was: run-wide event number and source; `{earlier_run: true}` for a key remembered through --state; null when not recorded (--no-first-seen). */
  first_seen: { event: number; source: string } | { earlier_run: true } | null
}

export interface RejectRecord extends EventPlace {
  type: 'reject'
  reason: string
  /** Byte offset within the source where the problem was found. */
  error_offset: number
}

export interface Summary {
  read: number
  unique: number
  duplicate: number
  rejected: number
  late: number
  bytes_read: number
  elapsed_ms: number
  events_per_second: number
  /**
   * The store's own memory: `bytes` in all, `bytes_per_key` of what grows with the keys (the
   * fixed `fixed_bytes`, a first-seen cache, left out). The process's buffers and code are not in it.
   */
  store: { backend: string; keys: number; bytes: number | null; bytes_per_key: number | null; fixed_bytes: number }
  formats: Array<{ source: string; format: 'ndjson' | 'json' }>
  /** Why the run ended early, when it did. */
  stopped?: string
  /** --to postgres: rows the table took, copies it already held, and events it could not store (in its rejects table). */
  postgres?: { table: string; stored: number; alreadyStored: number; unstorable: number }
}

/** Listeners of one run; each method optional. Formatting stays out of the pipeline. */
export interface PipelineListener {
  duplicate?(record: DuplicateRecord): void
  reject?(record: RejectRecord, input: Uint8Array): void
  progress?(rawBytes: number, events: number): void
  /** Resolves when what was written so far has been accepted (files under backpressure); awaited after each slab. */
  flush?(): Promise<void>
}
