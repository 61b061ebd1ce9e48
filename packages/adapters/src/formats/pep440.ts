/** PEP 440 versions, compared as Python's packaging.version.Version compares them. */

/**
 * Whether a PEP 440 version (as Python's packaging.version.Version reads it)
 * comes before `release` (a plain release such as 1.1.0): a lower release,
 * or the same release as a pre-release (1.1.0rc1) or a development release
 * (1.1.0.dev0) that is not a post-release. Undefined when `version` is not
 * PEP 440.
 */
export function versionBefore(version: string, release: readonly number[]): boolean | undefined {
  const m = /^\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)((?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)(?:[-_.]?\d+)?))?((?:-\d+)|(?:[-_.]?(?:post|rev|r)(?:[-_.]?\d+)?))?((?:[-_.]?dev(?:[-_.]?\d+)?))?(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?\s*$/i.exec(version);
  if (!m) return undefined;
  if (m[1] !== undefined && Number(m[1]) > 0) return false;
  const parts = m[2]!.split('.').map(Number);
  for (let i = 0; i < Math.max(parts.length, release.length); i++) {
    const [a, b] = [parts[i] ?? 0, release[i] ?? 0];
    if (a !== b) return a < b;
  }
  const [pre, post, dev] = [m[3], m[4], m[5]];
  return pre !== undefined || (post === undefined && dev !== undefined);
}
