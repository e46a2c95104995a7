/**
 * Origin allow-list check (RFC 6455 §4.2.2 step 4, §10.2; RFC 6454 §7 serialized origins).
 */

/**
 * True when the request's Origin may connect. An empty or absent allow-list allows any origin
 * (and a request without Origin). With a non-empty allow-list the Origin header must be present
 * and equal one entry as a serialized origin (`scheme://host[:port]`), comparing scheme and host
 * case-insensitively: a serialized origin has no other letters, so lower-casing both sides is
 * exactly that. A missing Origin is denied because the list is an allow-list, not a deny-list.
 */
export function isOriginAllowed(origin: string | undefined, allowList: readonly string[] | undefined): boolean {
  if (allowList === undefined || allowList.length === 0) return true;
  if (origin === undefined) return false;
  const wanted = origin.trim().toLowerCase();
  return allowList.some((allowed) => allowed.trim().toLowerCase() === wanted);
}
