/**
 * @module kion-dedup as a library: `import { Deduplicator } from 'kion-dedup'`. The CLI (`kion-dedup`),
 * `serve` and `consume` run on the same core; this entry loads none of their dependencies.
 */
export { Deduplicator, type DeduplicatorOptions, type CheckResult, type EventInput } from './library/deduplicator.js'
export { DedupError, DedupOptionsError, DedupBackendError, DedupClosedError } from './errors.js'
export { DEFAULT_KEY_FIELDS } from './key/canonical.js'
export type { StoreStats } from './store.js'
export type { Clock } from './core/dedup-core.js'
export type { BackendName } from './store/open.js'
export type { RedisLayoutName } from './store/redis/index.js'
