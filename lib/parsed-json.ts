import { setMostRecent } from "./recently-used.ts";

/**
 * `JSON.parse` of a keyed JSON text, remembered for the last few keys while their text stays the same.
 *
 * Why: the deployments service keeps what it last applied per record as canonical JSON (a third of the memory of the
 * objects) and parsed it again on every watch event of the record's objects to check for drift: several events per
 * create, each a parse of ~3 KB (~1.5% of the suite's CPU converging deployments, docs/performance.md change 55).
 * Events of one record come in bursts, so a few parsed entries serve most of them; the bound keeps the memory of the
 * strings' design. What `parse` returns is shared between its callers: read it, never change it.
 */
export class ParsedJson<T> {
  readonly #entries = new Map<string, { text: string; value: T }>();
  readonly #max: number;

  constructor(max = 64) {
    this.#max = max;
  }

  /** `JSON.parse(text)` for `key`: the value parsed last time when `text` is the same, else parsed now and kept. */
  parse(key: string, text: string): T {
    const known = this.#entries.get(key);
    const entry = known !== undefined && known.text === text ? known : { text, value: JSON.parse(text) as T };
    setMostRecent(this.#entries, key, entry, this.#max);
    return entry.value;
  }

  /** How many keys are kept now (tests). */
  get size(): number {
    return this.#entries.size;
  }
}
