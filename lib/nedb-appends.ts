/**
 * NeDB's appends through one open file descriptor, written synchronously.
 *
 * NeDB persists every insert, update and removal by appending lines to its data file with `fs.promises.appendFile` on
 * the file's path: open, write, close, three trips through libuv's thread pool per stored change. Measured here
 * (8,000 appends of a status-sized line): 30-77 µs of CPU each that way, 8-14 µs through one handle opened for
 * appending. (A V8 CPU profile of issue 9's Converge row, N = 1,000, put 18% of the main thread's busy samples in those
 * opens, writes and closes; the profiler over-counts native calls, the CPU figures are the better measure.) Even one
 * promise write through the thread pool costs 35-40 µs of CPU for a 4 KB line on this VM, where a `write(2)` from the
 * main thread costs 5-6 µs: the hand-over to a pool thread and the wake-up back are most of it (docs/performance.md,
 * change 47). So the line is written with `writeSync`, as Redis writes its append-only file from its main thread: a
 * write into the page cache, no `fsync` (NeDB never syncs its appends either).
 *
 * `appendThroughOneHandle` gives a datastore its own `persistNewStateAsync` that writes the same lines (NeDB's own
 * `model.serialize`, the datastore's `afterSerialization`) through a descriptor kept open for appending (`O_APPEND`:
 * every write lands at the end of the file). Before each append, one `stat` of the path (synchronous: a lookup in the
 * kernel's caches, ~1-2 µs) checks that the path still names the file the descriptor has open; if not — a compaction
 * renamed a new file over it, or the file was removed, renamed or replaced under the running process — the descriptor
 * is dropped and the path opened again, so every append goes where NeDB's own append by path would have gone, and fails
 * as it would have (a directory in its place: EISDIR). NeDB runs every persistence step, appends and compactions
 * alike, one after the other on the datastore's executor, so no append interleaves with a compaction. A failed write
 * drops the descriptor too. `close()`, after the operations already queued, closes it; appends after that go back to
 * NeDB's open-write-close by path.
 *
 * NeDB compacts a data file (rewrites it with one line per live document) only when it loads it; until then every
 * change appends a whole document, so a running suite's files grew without bound: each status write of a deployment
 * appends its record with all its revisions, a restart was the only thing that shrank them. So the appender counts the
 * bytes it appends and asks NeDB for a compaction (`compactDatafileAsync`, queued after the operations already on the
 * executor) once they exceed both the file's size after its last compaction (the live data) and `compactAfterBytes`:
 * a file stays under twice its live size plus that floor, and each compaction, which writes the live size, comes after
 * at least as many bytes appended, so rewriting costs at most one byte per byte appended. Nothing is appended while
 * the suite is idle, so nothing compacts then either.
 */
import { serialize } from "@seald-io/nedb/lib/model.js";
import { closeSync, fstatSync, openSync, statSync, writeSync } from "node:fs";

/** Bytes appended since the last compaction below which no compaction is asked for, whatever the file's live size. */
export const DEFAULT_COMPACT_AFTER_BYTES = 8 * 1024 * 1024;

interface NedbPersistence {
  inMemoryOnly: boolean;
  filename: string;
  modes: { fileMode: number };
  afterSerialization(line: string): string;
  persistNewStateAsync(newDocs: unknown[]): Promise<void>;
}

/** The part of a NeDB 3 Datastore this uses. */
interface NedbPersistedDatastore {
  persistence: NedbPersistence;
  executor: { pushAsync<T>(task: () => Promise<T>, forceQueuing?: boolean): Promise<T> };
  compactDatafileAsync(): Promise<void>;
  on(event: "compaction.done", listener: () => void): unknown;
  off(event: "compaction.done", listener: () => void): unknown;
}

function isPersistedNedb(db: unknown): db is NedbPersistedDatastore {
  if (typeof db !== "object" || db === null) return false;
  const d = db as Partial<NedbPersistedDatastore>;
  return (
    typeof d.persistence?.persistNewStateAsync === "function" &&
    d.persistence.inMemoryOnly === false &&
    typeof d.persistence.filename === "string" &&
    typeof d.executor?.pushAsync === "function" &&
    typeof d.compactDatafileAsync === "function" &&
    typeof d.on === "function" &&
    typeof d.off === "function"
  );
}

export interface OneHandleAppender {
  /** Closes the descriptor once the operations already queued on the datastore are done. */
  close(): Promise<void>;
}

export interface AppenderOptions {
  /** The floor of appended bytes before a compaction (default DEFAULT_COMPACT_AFTER_BYTES; see the module comment). */
  compactAfterBytes?: number | undefined;
  /** Told of a compaction that failed (the file stays as it was; the next try comes after as many bytes again). */
  onCompactionError?: (err: unknown) => void;
}

/**
 * Replaces `db.persistence.persistNewStateAsync` with appends through one descriptor (see the module comment). Returns
 * undefined, changing nothing, for a datastore that is not a file-backed NeDB 3 datastore.
 */
export function appendThroughOneHandle(db: unknown, options: AppenderOptions = {}): OneHandleAppender | undefined {
  if (!isPersistedNedb(db)) return undefined;
  const persistence = db.persistence;
  const appendByPath = persistence.persistNewStateAsync.bind(persistence);
  const compactAfterBytes = options.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES;
  let current: { fd: number; ino: number; dev: number } | undefined;
  let closed = false;
  /** The file's size after its last compaction (NeDB compacts on load, so at first: now). */
  let liveBytes = sizeOf(persistence.filename);
  let appendedBytes = 0;
  let compacting = false;
  const compacted = (): void => {
    liveBytes = sizeOf(persistence.filename);
    appendedBytes = 0;
    compacting = false;
  };
  db.on("compaction.done", compacted);
  const compactIfGrown = (): void => {
    if (compacting || closed || appendedBytes <= Math.max(liveBytes, compactAfterBytes)) return;
    compacting = true;
    // Not awaited: this runs inside an executor task, and the compaction is queued behind it.
    db.compactDatafileAsync().catch((err: unknown) => {
      compacting = false;
      appendedBytes = 0;
      options.onCompactionError?.(err);
    });
  };

  const drop = (): void => {
    const old = current?.fd;
    current = undefined;
    if (old === undefined) return;
    try {
      closeSync(old);
    } catch {
      // closing a descriptor that is given up anyway: nothing to do about it
    }
  };
  /** Whether the data file's path still names the file `current` has open. */
  const stillNamed = (held: { ino: number; dev: number }): boolean => {
    let named: { ino: number; dev: number } | undefined;
    try {
      named = statSync(persistence.filename, { throwIfNoEntry: false });
    } catch {
      named = undefined; // a path that cannot be looked up names no file; the open below says why
    }
    return named !== undefined && named.ino === held.ino && named.dev === held.dev;
  };

  // Async: a failure is a rejected promise, as NeDB's own append gives.
  persistence.persistNewStateAsync = async (newDocs: unknown[]): Promise<void> => {
    if (closed) return appendByPath(newDocs);
    let lines = "";
    for (const doc of newDocs) lines += `${persistence.afterSerialization(serialize(doc))}\n`;
    if (lines.length === 0) return;
    if (current !== undefined && !stillNamed(current)) drop();
    if (current === undefined) {
      const fd = openSync(persistence.filename, "a", persistence.modes.fileMode);
      try {
        const { ino, dev } = fstatSync(fd);
        current = { fd, ino, dev };
      } catch (err) {
        closeSync(fd);
        throw err;
      }
    }
    try {
      const bytes = Buffer.from(lines, "utf8");
      // A regular file takes the whole buffer at once; a short write (a full disk) goes on where it stopped.
      for (let written = 0; written < bytes.length;) written += writeSync(current.fd, bytes, written);
      appendedBytes += bytes.length;
    } catch (err) {
      drop();
      throw err;
    }
    compactIfGrown();
  };

  return {
    close: () =>
      db.executor.pushAsync(async () => {
        closed = true;
        db.off("compaction.done", compacted);
        const old = current?.fd;
        current = undefined;
        if (old !== undefined) closeSync(old);
      }, true),
  };
}

/** The size of the file at `file`, 0 when there is none (or it cannot be looked up: the next compaction tells). */
function sizeOf(file: string): number {
  try {
    return statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  } catch {
    return 0;
  }
}
