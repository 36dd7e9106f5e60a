/**
 * NeDB's appends through one open file handle.
 *
 * NeDB persists every insert, update and removal by appending lines to its data file with `fs.promises.appendFile` on
 * the file's path: open, write, close, three trips through libuv's thread pool per stored change. Measured here
 * (8,000 appends of a status-sized line): 30-77 µs of CPU each that way, 8-11 µs through one handle opened for
 * appending. (A V8 CPU profile of issue 9's Converge row, N = 1,000, put 18% of the main thread's busy samples in those
 * opens, writes and closes; the profiler over-counts native calls, the CPU figures are the better measure.)
 *
 * `appendThroughOneHandle` gives a datastore its own `persistNewStateAsync` that writes the same lines (NeDB's own
 * `model.serialize`, the datastore's `afterSerialization`) through a handle kept open for appending (`O_APPEND`: every
 * write lands at the end of the file). NeDB runs every persistence step, appends and compactions alike, one after the
 * other on the datastore's executor, so no append can interleave with a compaction. A compaction writes a new file and
 * renames it over the old one: on its `compaction.done` event the handle is dropped, and the next append opens the new
 * file. A failed write drops the handle too (the next append opens the file again). One difference from appending by
 * path remains: a data file removed or renamed under the running process keeps receiving the appends until `verify()`
 * (the readiness check) notices and drops the handle. `close()`, after the operations already queued, closes the
 * handle; appends after that go back to NeDB's open-write-close by path.
 */
import { serialize } from "@seald-io/nedb/lib/model.js";
import { open, stat, type FileHandle } from "node:fs/promises";

interface NedbPersistence {
  inMemoryOnly: boolean;
  filename: string;
  modes: { fileMode: number };
  afterSerialization(line: string): string;
  persistNewStateAsync(newDocs: unknown[]): Promise<void>;
}

/** The part of a NeDB 3 Datastore this uses. */
export interface NedbPersistedDatastore {
  persistence: NedbPersistence;
  executor: { pushAsync<T>(task: () => Promise<T>, forceQueuing?: boolean): Promise<T> };
  on(event: "compaction.done", listener: () => void): unknown;
}

export function isPersistedNedb(db: unknown): db is NedbPersistedDatastore {
  if (typeof db !== "object" || db === null) return false;
  const d = db as Partial<NedbPersistedDatastore>;
  return (
    typeof d.persistence?.persistNewStateAsync === "function" &&
    d.persistence.inMemoryOnly === false &&
    typeof d.persistence.filename === "string" &&
    typeof d.executor?.pushAsync === "function" &&
    typeof d.on === "function"
  );
}

export interface OneHandleAppender {
  /**
   * Drops the handle when the data file's path no longer names the file it has open (the file was removed, renamed
   * or replaced under the running process), so that the next append opens the path again, as NeDB's own appends by
   * path would. The db mixin's readiness check calls it.
   */
  verify(): Promise<void>;
  /** Closes the handle once the operations already queued on the datastore are done. */
  close(): Promise<void>;
}

/**
 * Replaces `db.persistence.persistNewStateAsync` with appends through one handle (see the module comment). Returns
 * undefined, changing nothing, for a datastore that is not a file-backed NeDB 3 datastore.
 */
export function appendThroughOneHandle(db: unknown): OneHandleAppender | undefined {
  if (!isPersistedNedb(db)) return undefined;
  const persistence = db.persistence;
  const appendByPath = persistence.persistNewStateAsync.bind(persistence);
  let handle: FileHandle | undefined;
  let closed = false;

  const drop = (): void => {
    const old = handle;
    handle = undefined;
    void old?.close().catch(() => undefined);
  };
  db.on("compaction.done", drop);

  persistence.persistNewStateAsync = async (newDocs: unknown[]): Promise<void> => {
    if (closed) return appendByPath(newDocs);
    let lines = "";
    for (const doc of newDocs) lines += `${persistence.afterSerialization(serialize(doc))}\n`;
    if (lines.length === 0) return;
    handle ??= await open(persistence.filename, "a", persistence.modes.fileMode);
    try {
      await handle.appendFile(lines, "utf8");
    } catch (err) {
      drop();
      throw err;
    }
  };

  return {
    verify: () =>
      db.executor.pushAsync(async () => {
        if (handle === undefined) return;
        const [open, named] = await Promise.all([handle.stat(), stat(persistence.filename).catch(() => undefined)]);
        if (named === undefined || named.ino !== open.ino || named.dev !== open.dev) drop();
      }, true),
    close: () =>
      db.executor.pushAsync(async () => {
        closed = true;
        const old = handle;
        handle = undefined;
        await old?.close();
      }, true),
  };
}
