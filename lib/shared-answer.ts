/**
 * Answers shared between calls. An action that gives many callers the same unchanged result (a deployment's `state`
 * read again while neither its record nor its objects in the cluster changed) hands out one deep-frozen object,
 * marked here; the gateway then writes that object's JSON once and reuses it (`jsonOf`).
 *
 * Why: serializing the answer was ~5% of a `state` read's CPU through the gateway, computing it ~3%
 * (docs/performance.md, change 53), for an answer that changes only when the cluster or the record does. Only objects
 * marked here are serialized once: a frozen object may hold objects that are not, so freezing alone says nothing.
 */
import { setMostRecent } from "./recently-used.ts";

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

/** The services that only serialize what their calls answer (the suite's gateway): they may be given shared answers. */
const answerSerializers = new WeakSet<object>();

/**
 * Marks `service` as one that only serializes what its calls answer — never changes it, never hands it on — so that
 * an action may answer it with a shared answer (services/api.service.ts marks the gateway in `created`).
 */
export function markAnswerSerializer(service: object): void {
  answerSerializers.add(service);
}

/**
 * Whether the service that made a call, named `caller` (`ctx.caller`), is one of this node's marked by
 * `markAnswerSerializer`. Another service of the same name (an application's own gateway is often called `api` too)
 * is not, and gets its own copy. A call from another node is serialized on its way back anyway.
 */
export function callerOnlySerializes(
  broker: { getLocalService(name: string): unknown },
  caller: string | null,
): boolean {
  if (caller === null) return false;
  const service = broker.getLocalService(caller);
  return typeof service === "object" && service !== null && answerSerializers.has(service);
}

/**
 * One shared answer per stored record, for the last `max` records asked for, each given again while its record is the
 * same stored object. On NeDB 3 that identity is the record's version: NeDB never changes a stored document, an update
 * stores a new object in its place (lib/nedb-read.ts), so a new object means a new answer and nothing else does.
 *
 * Why: `get` of one record through the gateway copied the record and serialized the copy for every request, ~7% of
 * such a read's CPU (docs/performance.md, change 57), for an answer that changes only when the record does. The bound
 * keeps the memory to a hot set (an answer and its JSON per record).
 */
export class SharedAnswersByRecord {
  readonly #entries = new Map<string, { stored: object; answer: object }>();
  readonly #max: number;

  constructor(max = 128) {
    this.#max = max;
  }

  /**
   * The shared answer for record `id` stored as `stored`: the one made last time when `stored` is the same object,
   * else `make()`'s, deep-frozen and marked (`sharedAnswer`). `make` must return an object of its own, sharing nothing
   * with the stored record (freezing it would freeze the store).
   */
  answerFor<T extends object>(id: string, stored: object, make: () => T): T {
    const known = this.#entries.get(id);
    const entry = known !== undefined && known.stored === stored ? known : { stored, answer: sharedAnswer(make()) };
    setMostRecent(this.#entries, id, entry, this.#max);
    return entry.answer as T;
  }

  /** How many records' answers are kept now (tests). */
  get size(): number {
    return this.#entries.size;
  }
}
