/**
 * Watches: newline-delimited JSON watch events, from a resourceVersion (replayed from the store's history, or an
 * in-stream 410 Expired ERROR when it is too old), with selectors (an object that stops matching arrives as
 * DELETED), BOOKMARKs and timeoutSeconds.
 */
import type { ServerResponse } from "node:http";
import type { Matcher } from "../selectors.ts";
import { expiredError } from "../status.ts";
import type { HistoryEntry, Store } from "../store.ts";
import { groupVersionOf, type KubeObject, type ResourceType } from "../types.ts";

export interface WatchRequest {
  rt: ResourceType;
  namespace?: string;
  matcher?: Matcher;
  resourceVersion?: string;
  sendInitialEvents: boolean;
  allowBookmarks: boolean;
  timeoutSeconds?: number;
  bookmarkIntervalMs: number;
  /** Wraps each event's object (Table printing). */
  transform?: (object: KubeObject, first: boolean) => unknown;
}

type EventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

/** The longest delay a Node timer takes (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Stored objects never change, so each is serialized once for all the watches that send it. */
const serialized = new WeakMap<object, string>();
function json(object: object): string {
  let text = serialized.get(object);
  if (text === undefined) {
    text = JSON.stringify(object);
    serialized.set(object, text);
  }
  return text;
}

/** Streams a watch on `res` until the client goes, the timeout passes, or the returned stop function is called. */
export function serveWatch(store: Store, res: ServerResponse, req: WatchRequest, onEnd: () => void): () => void {
  const { rt, namespace, matcher } = req;
  let ended = false;
  let first = true;
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe: () => void = () => undefined;

  const write = (type: EventType, object: unknown): void => {
    if (ended) return;
    const isObject = type === "ADDED" || type === "MODIFIED" || type === "DELETED";
    if (isObject && req.transform === undefined) {
      res.write(`{"type":"${type}","object":${json(object as KubeObject)}}\n`);
      return;
    }
    const payload = isObject ? transform(object as KubeObject) : object;
    res.write(`${JSON.stringify({ type, object: payload })}\n`);
  };
  const transform = (object: KubeObject): unknown => {
    if (req.transform === undefined) return object;
    const out = req.transform(object, first);
    first = false;
    return out;
  };
  const end = (): void => {
    if (ended) return;
    ended = true;
    unsubscribe();
    for (const t of timers) clearTimeout(t); // clears intervals too
    res.end();
    onEnd();
  };
  const inScope = (o: KubeObject): boolean =>
    !rt.namespaced || namespace === undefined || namespace === "" || o.metadata.namespace === namespace;
  const matches = (o: KubeObject | undefined): boolean =>
    o !== undefined && inScope(o) && (matcher === undefined || matcher(o));

  const deliver = (entry: HistoryEntry): void => {
    if (entry.resource.key !== rt.key) return;
    const now = matches(entry.object);
    if (matcher === undefined) {
      if (now) write(entry.type, entry.object);
      return;
    }
    const was = entry.type !== "ADDED" && matches(entry.old ?? (entry.type === "DELETED" ? entry.object : undefined));
    if (entry.type === "DELETED") {
      if (was || now) write("DELETED", entry.object);
    } else if (now && was) write("MODIFIED", entry.object);
    else if (now) write("ADDED", entry.object);
    else if (was) write("DELETED", entry.object);
  };
  const bookmark = (extra: Record<string, string> = {}): void => {
    write("BOOKMARK", {
      kind: rt.kind,
      apiVersion: groupVersionOf(rt),
      metadata: {
        resourceVersion: store.currentResourceVersion(),
        ...(Object.keys(extra).length === 0 ? {} : { annotations: extra }),
      },
    });
  };

  res.writeHead(200, {
    "Content-Type": "application/json",
    "Cache-Control": "no-cache, private",
    "Transfer-Encoding": "chunked",
  });
  res.flushHeaders();

  const rvText = req.resourceVersion ?? "";
  const fromNow = rvText === "" || rvText === "0";
  if (fromNow || req.sendInitialEvents) {
    const objects = store.listRefs(rt.key, rt.namespaced ? namespace : undefined, matcher);
    for (const o of objects) write("ADDED", o);
    if (req.sendInitialEvents && req.allowBookmarks) bookmark({ "k8s.io/initial-events-end": "true" });
  } else {
    const rv = Number(rvText);
    const changes = Number.isInteger(rv) && rv >= 0 ? store.changesSince(rv) : undefined;
    if (changes === undefined) {
      const err = expiredError(
        Number.isInteger(rv)
          ? `too old resource version: ${rv} (${store.oldestResumableVersion()})`
          : `invalid resource version: ${JSON.stringify(rvText)}`,
      );
      write("ERROR", err.status);
      end();
      return end;
    }
    for (const entry of changes) deliver(entry);
  }
  unsubscribe = store.subscribeRaw(deliver);
  res.on("close", end);
  // A timeout past what a Node timer holds (~24.8 days) would fire at once (Node's TimeoutOverflowWarning): the watch
  // then lasts until the client goes, as it would on the API server.
  if (req.timeoutSeconds !== undefined && req.timeoutSeconds > 0 && req.timeoutSeconds * 1000 <= MAX_TIMER_MS) {
    timers.push(setTimeout(end, req.timeoutSeconds * 1000));
  }
  if (req.allowBookmarks) timers.push(setInterval(() => bookmark(), req.bookmarkIntervalMs));
  return end;
}
