/** @module The errors the library throws, by what a caller can do about them. The CLI maps them to exit statuses (cli/errors.ts). */

/** Every error the library throws on purpose. */
export class DedupError extends Error {
  override readonly name: string = 'DedupError'
}

/** Options that cannot work (bad values, or a combination that makes no sense): fix the call, do not retry. */
export class DedupOptionsError extends DedupError {
  override readonly name: string = 'DedupOptionsError'
}

/**
 * The store could not answer (Redis down, a lost connection): nothing of the failed call was
 * answered. Retrying later is safe: the events of a check whose answer was lost are answered
 * unique again, never silently taken for duplicates.
 */
export class DedupBackendError extends DedupError {
  override readonly name: string = 'DedupBackendError'
  readonly retryable = true
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** The deduplicator was closed before (or while) this call ran. */
export class DedupClosedError extends DedupError {
  override readonly name: string = 'DedupClosedError'
}
