/**
 * NeDB index updates that leave a document where it is when its key did not change.
 *
 * NeDB 3 updates every index of a datastore on every update of a document: it takes the old document out from under its
 * key and puts the new one in, whether the indexed value changed or not. Taking one document out of a key that many
 * share rebuilds that key's whole list (`data.forEach` into a new array): every status update of a deployment cost
 * O(deployments in its namespace) for the `namespace` index and O(deployments of its image) for `image`. In a V8 CPU
 * profile of issue 9's Converge row (1,000 deployments in one namespace, ~4,200 updates) the index updates took ~85 µs
 * each, and more the more deployments share a namespace.
 *
 * `keepUnchangedIndexKeys` gives a datastore its own `_updateIndexes`: for each index and each updated document whose
 * indexed value is the same before and after (a string, number, boolean or null, or an array of those, element for
 * element), the new document takes the old one's place in that key's list, found by identity (`indexOf`, no callback,
 * no new array). Every other case — a changed key, a value of another type (a date, an object), an old document not
 * found under its key — is NeDB's own update of that index, unique constraint included. When an index refuses (a
 * unique key taken), the indexes already updated are put back, as NeDB's own `_updateIndexes` does, and the error is
 * thrown. A document moved in place keeps its position among the documents of its key, where NeDB's would have gone
 * last; NeDB promises no order without a sort.
 */
import { getDotValue } from "@seald-io/nedb/lib/model.js";

type Doc = Record<string, unknown>;
interface Pair {
  oldDoc: Doc;
  newDoc: Doc;
}

/** The part of a NeDB 3 index used here (lib/indexes.js). */
interface NedbIndex {
  fieldName: string;
  sparse: boolean;
  /** The documents under `key`: the tree's own list (bst.js `search` answers `this.data`), [] when there are none. */
  tree: { search(key: unknown): Doc[] };
  update(pairs: Pair[]): void;
}

interface NedbIndexedDatastore {
  indexes: Record<string, NedbIndex>;
  _updateIndexes(oldDoc: Doc | Pair[], newDoc?: Doc): void;
}

function isIndexedNedb(db: unknown): db is NedbIndexedDatastore {
  if (typeof db !== "object" || db === null) return false;
  const d = db as Partial<NedbIndexedDatastore>;
  return typeof d._updateIndexes === "function" && typeof d.indexes === "object" && d.indexes !== null;
}

function isSimpleKey(value: unknown): value is string | number | boolean | null {
  return value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

/**
 * The keys a document is listed under in `index` when its value is the same in `a` and `b` and simple enough to find
 * by `search` (each distinct element of an array); undefined when the value changed or is of another kind.
 */
export function unchangedKeys(index: { fieldName: string; sparse: boolean }, a: Doc, b: Doc): unknown[] | undefined {
  const before: unknown = getDotValue(a, index.fieldName);
  const after: unknown = getDotValue(b, index.fieldName);
  if (Array.isArray(before) || Array.isArray(after)) {
    if (!Array.isArray(before) || !Array.isArray(after) || before.length !== after.length) return undefined;
    for (let i = 0; i < before.length; i += 1) {
      if (!isSimpleKey(before[i]) || before[i] !== after[i]) return undefined;
    }
    return [...new Set(before)];
  }
  if (before === undefined && after === undefined && index.sparse) return [];
  return isSimpleKey(before) && before === after ? [before] : undefined;
}

/** Replaces `from` with `to` under each key; false (nothing changed) when `from` is not under one of them. */
function swapUnder(index: NedbIndex, keys: unknown[], from: Doc, to: Doc): boolean {
  const lists = keys.map((key) => index.tree.search(key));
  const positions = lists.map((list) => list.indexOf(from));
  if (positions.includes(-1)) return false;
  lists.forEach((list, i) => {
    list[positions[i] as number] = to;
  });
  return true;
}

/** Updates one index for `pairs`: in place where the key stayed, NeDB's own update for the rest. */
function updateIndex(index: NedbIndex, pairs: Pair[]): void {
  const moved: { keys: unknown[]; pair: Pair }[] = [];
  const rest: Pair[] = [];
  for (const pair of pairs) {
    const keys = unchangedKeys(index, pair.oldDoc, pair.newDoc);
    if (keys !== undefined && swapUnder(index, keys, pair.oldDoc, pair.newDoc)) moved.push({ keys, pair });
    else rest.push(pair);
  }
  if (rest.length === 0) return;
  try {
    index.update(rest);
  } catch (err) {
    for (const { keys, pair } of moved) swapUnder(index, keys, pair.newDoc, pair.oldDoc);
    throw err;
  }
}

/**
 * Gives `db` the `_updateIndexes` described in the module comment. Answers false, changing nothing, for something that
 * is not a NeDB 3 datastore.
 */
export function keepUnchangedIndexKeys(db: unknown): boolean {
  if (!isIndexedNedb(db)) return false;
  db._updateIndexes = function updateIndexesKeepingUnchangedKeys(
    this: NedbIndexedDatastore,
    oldDoc: Doc | Pair[],
    newDoc?: Doc,
  ): void {
    const pairs = Array.isArray(oldDoc) ? oldDoc : [{ oldDoc, newDoc: newDoc as Doc }];
    const done: NedbIndex[] = [];
    for (const index of Object.values(this.indexes)) {
      try {
        updateIndex(index, pairs);
      } catch (err) {
        const back = pairs.map(({ oldDoc: o, newDoc: n }) => ({ oldDoc: n, newDoc: o }));
        for (const updated of done) updateIndex(updated, back);
        throw err;
      }
      done.push(index);
    }
  };
  return true;
}
