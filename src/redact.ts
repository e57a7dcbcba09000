/** @module Connection URLs in messages: the password never shown, whether or not the URL parses. */

/**
 * The URL with the password of its credentials (`scheme://user:password@…`) replaced by `***`.
 * Works on text, not a parsed URL: a URL that does not parse (a bad port, a missing host) is the
 * one most likely to be printed in an error. Everything between `://` and the last `@` counts
 * as credentials, so a password holding `/`, `@` or `#` is hidden whole.
 */
export function redactCredentials(url: string): string {
  const scheme = url.indexOf('://')
  const at = url.lastIndexOf('@')
  if (scheme < 0 || at < scheme) return url
  const credentials = url.slice(scheme + 3, at)
  const colon = credentials.indexOf(':')
  const user = colon < 0 ? credentials : credentials.slice(0, colon)
  // user@host has no password; user:x@ and :x@ have one.
  return colon < 0 ? url : `${url.slice(0, scheme + 3)}${user}:***${url.slice(at)}`
}
