export { ApproxStore, type ApproxStoreOptions } from './approx-store.js'
