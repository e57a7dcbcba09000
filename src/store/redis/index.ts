export { RedisStore, RedisUnavailableError, RedisCommandError, type RedisStoreOptions, type RedisClient } from './redis-store.js'
export { openRedisStore, RedisStartError, redactUrl, type OpenRedisOptions } from './connect.js'
export { KeyLayout, keySlot, type RedisLayoutName } from './layout.js'
