/**
 * Puts `value` under `key` as the most recently used entry of `entries` (a Map keeps insertion order) and drops the
 * least recently used entries past `max`: the bound of the small caches kept for the last few records read
 * (lib/applied-renders.ts, lib/shared-answer.ts).
 */
export function setMostRecent<K, V>(entries: Map<K, V>, key: K, value: V, max: number): void {
  entries.delete(key);
  entries.set(key, value);
  while (entries.size > max) {
    const oldest = entries.keys().next();
    if (oldest.done === true) return;
    entries.delete(oldest.value);
  }
}
