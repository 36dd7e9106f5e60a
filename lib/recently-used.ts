/**
 * Per map, the key `setMostRecent` put last: that entry is already the most recent, and is only given its new value.
 * A record read over and over (a deployment's state polled) then costs a Map write, not a delete and an insert each
 * time, whose deleted slots made V8 rebuild the map's table now and then (2.6% of the suite's CPU answering one
 * deployment's `state` over and over, docs/performance.md change 68).
 */
const lastSet = new WeakMap<Map<unknown, unknown>, unknown>();

/**
 * Puts `value` under `key` as the most recently used entry of `entries` (a Map keeps insertion order) and drops the
 * least recently used entries past `max`: the bound of the small caches kept for the last few records read
 * (lib/applied-renders.ts, lib/shared-answer.ts). Entries are only ever added through here (removing them directly is
 * fine).
 */
export function setMostRecent<K, V>(entries: Map<K, V>, key: K, value: V, max: number): void {
  const untyped = entries as Map<unknown, unknown>;
  // A key set last and removed since is added again at the end by `set` alone.
  if (lastSet.get(untyped) !== key) entries.delete(key);
  entries.set(key, value);
  lastSet.set(untyped, key);
  while (entries.size > max) {
    const oldest = entries.keys().next();
    if (oldest.done === true) return;
    entries.delete(oldest.value);
  }
}
