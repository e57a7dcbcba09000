export { openSources, type Source, CHUNK_BYTES } from './file-source.js'
