/**
 * A NeDB data file whose last line was cut short: set aside before NeDB loads the file.
 *
 * Every stored change is one line appended to the file (lib/nedb-appends.ts), written without `fsync`: a power loss or
 * a full disk can leave the last line cut short. NeDB counts it as corrupt and, for a small collection (one bad line
 * in nine is over its 10% threshold), refuses to load the file at all: the service then stays unready, retrying every
 * few seconds, until someone edits the file by hand. Only the last line can be cut (appends come one after the other),
 * and it was never acknowledged as complete, so `setAsideTornTail` cuts it off: the bytes after the last newline go to
 * `<file>.torn-<time>` (kept for an operator to look at) and the file ends at that newline. A last line that is whole
 * JSON and lacks only its newline gets the newline instead. Anything else corrupt is left to NeDB's own check.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";

const CHUNK = 64 * 1024;

export interface TornTail {
  /** Bytes cut from the end of the file (0 when only a newline was added). */
  bytes: number;
  /** Where they were kept. */
  savedTo?: string;
}

/** Sets aside a cut-short last line of `file` (see the module comment); undefined when the file ends well or is absent. */
export function setAsideTornTail(file: string, now: Date = new Date()): TornTail | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r+");
  } catch {
    return undefined; // absent (a new collection), or not openable: NeDB's own load says why
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0 || lastByte(fd, size) === 0x0a) return undefined;
    const start = lastNewlineBefore(fd, size) + 1;
    const tail = Buffer.alloc(size - start);
    readSync(fd, tail, 0, tail.length, start);
    if (isWholeJson(tail)) {
      writeSync(fd, "\n", size);
      return { bytes: 0 };
    }
    const savedTo = `${file}.torn-${now.toISOString().replace(/[:.]/g, "-")}`;
    writeFileSync(savedTo, tail);
    ftruncateSync(fd, start);
    return { bytes: tail.length, savedTo };
  } finally {
    closeSync(fd);
  }
}

function lastByte(fd: number, size: number): number {
  const one = Buffer.alloc(1);
  readSync(fd, one, 0, 1, size - 1);
  return one[0] ?? 0;
}

/** The offset of the last newline before `end`, or -1 when there is none; read backwards a chunk at a time. */
function lastNewlineBefore(fd: number, end: number): number {
  const chunk = Buffer.alloc(CHUNK);
  for (let stop = end; stop > 0; stop -= CHUNK) {
    const from = Math.max(0, stop - CHUNK);
    const read = readSync(fd, chunk, 0, stop - from, from);
    const at = chunk.subarray(0, read).lastIndexOf(0x0a);
    if (at >= 0) return from + at;
  }
  return -1;
}

function isWholeJson(bytes: Buffer): boolean {
  try {
    const value: unknown = JSON.parse(bytes.toString("utf8"));
    return typeof value === "object" && value !== null;
  } catch {
    return false;
  }
}
