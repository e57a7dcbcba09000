export { MemoryStore, type MemoryStoreOptions, DEFAULT_BUCKETS, MAX_FINGERPRINT_BITS } from './memory-store.js'
export { saveState, loadState, StateFileError } from './state-file.js'
