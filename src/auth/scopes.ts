/**
 * Scopes are `{domain}:registry.{action}` (e.g. `social:registry.search`), with `*` forms: `*`, `social:*`,
 * `*:registry.search`, and the domain-less DCI form `registry.search` meaning every domain. The DCI authz file writes
 * them with `/` as well (`registry/search`, DIGEST 7.3): both separators are accepted.
 */

export function normalizeScope(scope: string): string {
  return scope.trim().replaceAll('/', '.');
}

export function parseScopeParam(scope: string | undefined | null): string[] {
  return scope ? normalizeScopes(scope.split(/[\s,]+/)) : [];
}

/** The scopes that are not DCI `{domain}:registry.{action}` scopes: only themselves or `*` grant them. */
const NON_DCI_SCOPES = new Set(['*', 'admin']);

/** Does `held` (one scope a partner holds or a token carries) cover `wanted`? */
export function covers(held: string, wanted: string): boolean {
  if (held === '*' || held === wanted) return true;
  // `*:*` is every DCI domain and action; it must not stretch to the operators' `admin` (or to `*`).
  if (NON_DCI_SCOPES.has(wanted)) return false;
  const [hd, ha] = splitScope(held);
  const [wd, wa] = splitScope(wanted);
  const domainOk = hd === '*' || hd === undefined || hd === wd;
  const actionOk = ha === '*' || ha === wa;
  return domainOk && actionOk;
}

function splitScope(s: string): [string | undefined, string] {
  const i = s.indexOf(':');
  return i < 0 ? [undefined, s] : [s.slice(0, i), s.slice(i + 1)];
}

/** A partner's scopes as configured, each in the `.` form (`social:registry/search` is `social:registry.search`). */
export function normalizeScopes(scopes: readonly string[]): string[] {
  return [...new Set(scopes.map(normalizeScope).filter(Boolean))];
}

/** The scopes to grant for a token request: all held when none requested; undefined when one is not held. */
export function grantScopes(requested: string[], held: readonly string[]): string[] | undefined {
  if (requested.length === 0) return [...held];
  for (const r of requested) if (!held.some((h) => covers(h, r))) return undefined;
  return requested;
}

export function scopesAllow(granted: readonly string[], domain: string, action: string): boolean {
  const wanted = `${domain}:registry.${action}`;
  return granted.some((g) => covers(g, wanted));
}
