export { openSources, type Source, CHUNK_BYTES, SourceError } from './file-source.js'
