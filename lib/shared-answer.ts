/**
 * Answers shared between calls. An action that gives many callers the same unchanged result (a deployment's `state`
 * read again while neither its record nor its objects in the cluster changed) hands out one deep-frozen object,
 * marked here; the gateway then writes that object's JSON once and reuses it (`jsonOf`).
 *
 * Why: serializing the answer was ~5% of a `state` read's CPU through the gateway, computing it ~3%
 * (docs/performance.md, change 53), for an answer that changes only when the cluster or the record does. Only objects
 * marked here are serialized once: a frozen object may hold objects that are not, so freezing alone says nothing.
 */

/** Deep-frozen answers that may be serialized once. */
const sharedAnswers = new WeakSet<object>();
/** Their JSON, written on first need; an entry goes with its object. */
const jsonOfShared = new WeakMap<object, string>();

/** Freezes `value` and everything it holds (each object once: a shared part is walked once). */
function deepFreeze(value: unknown, seen: Set<object>): void {
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  seen.add(value);
  Object.freeze(value);
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key], seen);
}

/** `value`, deep-frozen and marked as an answer that may be handed to many callers and serialized once. */
export function sharedAnswer<T extends object>(value: T): T {
  deepFreeze(value, new Set());
  sharedAnswers.add(value);
  return value;
}

/** Whether `value` is an answer marked by `sharedAnswer`. */
export function isSharedAnswer(value: unknown): boolean {
  return typeof value === "object" && value !== null && sharedAnswers.has(value);
}

/** `JSON.stringify(value)`, written once per shared answer. */
export function jsonOf(value: unknown): string {
  if (!isSharedAnswer(value)) return JSON.stringify(value);
  const answer = value as object;
  let json = jsonOfShared.get(answer);
  if (json === undefined) {
    json = JSON.stringify(answer);
    jsonOfShared.set(answer, json);
  }
  return json;
}
