/**
 * Event expiry, as kube-apiserver's `--event-ttl` (1 hour by default): an Event not written to for the TTL is
 * deleted. One timer, armed for the oldest expiry; nothing runs while there are no events.
 */
import { R, deleteQuietly, objectKey, splitKey, type Context, type Controller } from "./runtime.ts";

export const DEFAULT_EVENT_TTL_MS = 3_600_000;

export function eventTTLController(ctx: Context, ttlMs: number): Controller {
  const name = "event-ttl";
  const TIMER = "event-ttl";
  /** (expiry, key) in write order; expiries only grow, so the head is the next one due. */
  let fifo: { at: number; key: string }[] = [];
  let head = 0;
  /** key -> expiry of its latest write. */
  const latest = new Map<string, number>();

  function arm(): void {
    const next = fifo[head];
    if (next === undefined) return;
    if (ctx.timers.has(TIMER)) return;
    ctx.timers.set(TIMER, Math.max(0, next.at - Date.now()), sweep);
  }

  function sweep(): void {
    const now = Date.now();
    for (let entry = fifo[head]; entry !== undefined && entry.at <= now; entry = fifo[head]) {
      head++;
      if (latest.get(entry.key) !== entry.at) continue; // written again since: a later entry covers it
      latest.delete(entry.key);
      const { namespace, name: eventName } = splitKey(entry.key);
      try {
        deleteQuietly(ctx.store, R.events, namespace, eventName);
      } catch (err) {
        ctx.log(`event-ttl: ${entry.key}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (head > 1024 && head * 2 > fifo.length) {
      fifo = fifo.slice(head);
      head = 0;
    }
    arm();
  }

  function track(key: string): void {
    const at = Date.now() + ttlMs;
    latest.set(key, at);
    fifo.push({ at, key });
    arm();
  }

  return {
    name,
    onEvent(ev): void {
      if (ev.resource.key !== R.events) return;
      const key = objectKey(ev.object.metadata.namespace, ev.object.metadata.name);
      if (ev.type === "DELETED") latest.delete(key);
      else track(key);
    },
    reconcile: () => undefined,
    resync(): void {
      for (const e of ctx.store.listRefs(R.events)) track(objectKey(e.metadata.namespace, e.metadata.name));
    },
  };
}
