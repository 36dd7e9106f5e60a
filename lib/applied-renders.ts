import { hash } from "node:crypto";
import { setMostRecent } from "./recently-used.ts";

/** What is kept of one record's last apply, whoever reads it. */
interface Applied {
  /** The digest (SHA-256, base64) of the canonical JSON of the objects applied. */
  readonly digest: string;
  /** The `metadata.generation` the API server answered for each object of the apply, by kind. */
  readonly generations: Map<string, number>;
  /** By kind, the `liveFingerprint` of the last live object a drift check found in line with this apply. */
  readonly inLine: Map<string, string>;
}

/** What `lastRender` finds: the objects last applied, none applied on this node, or a render that differs now. */
export type LastRender<T> = { readonly objects: T } | "none" | "changed";

/** The digest a render is known by: two renders are the same when their canonical JSON digests the same. */
export function renderDigest(canonicalJson: string): string {
  return hash("sha256", canonicalJson, "base64");
}

/**
 * What a drift check of a live object reads besides its spec, digested: its `metadata.generation`, labels and
 * annotations. For kinds whose generation the API server moves on every change of the spec (a Deployment), two live
 * objects with the same fingerprint differ at most in their status; undefined for an object without a generation.
 */
export function liveFingerprint(obj: {
  metadata?: { generation?: number; labels?: object; annotations?: object };
}): string | undefined {
  const m = obj.metadata;
  if (typeof m?.generation !== "number") return undefined;
  return hash(
    "sha256",
    `${m.generation}\n${JSON.stringify(m.labels ?? {})}\n${JSON.stringify(m.annotations ?? {})}`,
    "base64",
  );
}

/**
 * What the deployments service last applied per record: for every record a digest of the objects' canonical JSON and
 * the generation the API server gave each object; the objects themselves only for the last few records applied or
 * checked (the most recently used ones, up to a bound).
 *
 * Why: the objects were kept per record as canonical JSON, 3.4 KB a deployment (3.3 MiB of the heap at 1,000, the
 * largest single item after the watch caches; docs/performance.md change 59), to be compared as strings with a new
 * render and parsed for a drift check on a watch event. A digest answers the first. The second needs the objects only
 * for records whose objects send watch events, which come in bursts right after their apply: the objects of that apply
 * are kept, and for any other record they are rendered again from the record (as cheap as parsing the JSON was) and
 * used only when they digest the same as what was applied.
 *
 * Objects handed out are shared between callers: read them, never change them.
 */
export class AppliedRenders<T> {
  readonly #applied = new Map<string, Applied>();
  readonly #recent = new Map<string, { digest: string; objects: T }>();
  /** Per key, how many applies of its objects are under way (sent, not answered). */
  readonly #applying = new Map<string, number>();
  readonly #max: number;

  constructor(maxRecent = 64) {
    this.#max = maxRecent;
  }

  /**
   * Counts the objects of canonical JSON `json` as what is applied for `key` from now on, and keeps them parsed from it
   * (keys sorted, no undefined fields, as a drift check compares; and shared with no one, not even the caller, whose
   * own objects may go on to be changed). The generations known so far stay until `setGenerations` (events of the
   * objects' older versions can still come). Returns the entry it replaced, for `restore` when the apply fails.
   */
  record(key: string, json: string): Applied | undefined {
    const before = this.#applied.get(key);
    const digest = renderDigest(json);
    this.#applied.set(key, { digest, generations: before?.generations ?? new Map(), inLine: new Map() });
    setMostRecent(this.#recent, key, { digest, objects: JSON.parse(json) as T }, this.#max);
    return before;
  }

  /**
   * Marks an apply of `key`'s objects as sent until `applyEnded`: meanwhile the live objects' events may be of the
   * version before it (its status written during the last rollout) while the render recorded is already the new one,
   * so they say nothing of drift; the apply (with force) puts back our fields anyway, and its answer's generations
   * tell the later events apart.
   */
  applyStarted(key: string): void {
    this.#applying.set(key, (this.#applying.get(key) ?? 0) + 1);
  }

  applyEnded(key: string): void {
    const left = (this.#applying.get(key) ?? 1) - 1;
    if (left > 0) this.#applying.set(key, left);
    else this.#applying.delete(key);
  }

  /** Whether an apply of `key`'s objects is under way (see `applyStarted`). */
  isApplying(key: string): boolean {
    return this.#applying.has(key);
  }

  /** Puts back what `record` replaced (nothing: forgets the key). */
  restore(key: string, before: Applied | undefined): void {
    if (before === undefined) this.delete(key);
    else this.#applied.set(key, before);
  }

  /** The generations the API server answered for the last apply of `key`'s objects. */
  setGenerations(key: string, generations: Iterable<[kind: string, generation: number]>): void {
    const applied = this.#applied.get(key);
    if (applied === undefined) return;
    this.#applied.set(key, { digest: applied.digest, generations: new Map(generations), inLine: applied.inLine });
  }

  /** The generation last answered for `key`'s object of `kind` (one object per kind in a render). */
  generation(key: string, kind: string): number | undefined {
    return this.#applied.get(key)?.generations.get(kind);
  }

  /**
   * Whether `key`'s live object of `kind` with this `liveFingerprint` was found in line with the apply recorded now: an
   * event of it (a Deployment's status written) needs no drift check.
   */
  liveInLine(key: string, kind: string, fingerprint: string): boolean {
    return this.#applied.get(key)?.inLine.get(kind) === fingerprint;
  }

  /** Notes that a drift check found `key`'s live object of `kind` in line with the apply recorded now. */
  markInLine(key: string, kind: string, fingerprint: string): void {
    this.#applied.get(key)?.inLine.set(kind, fingerprint);
  }

  has(key: string): boolean {
    return this.#applied.has(key);
  }

  /** Whether the objects last applied for `key` are kept (not rendered again by `lastRender`). */
  keepsObjectsOf(key: string): boolean {
    const kept = this.#recent.get(key);
    return kept !== undefined && kept.digest === this.#applied.get(key)?.digest;
  }

  delete(key: string): void {
    this.#applied.delete(key);
    this.#recent.delete(key);
  }

  /** Whether the objects of canonical JSON `json` are the ones last applied for `key`. */
  isApplied(key: string, json: string): boolean {
    return this.#applied.get(key)?.digest === renderDigest(json);
  }

  /**
   * The objects last applied for `key`: the ones kept when they are, else `render()`'s (the record rendered now, as
   * canonical JSON) parsed, when it digests the same as what was applied; "changed" when it does not (the record, its
   * image or its env values changed since, and the apply that follows decides); "none" when nothing was applied for
   * `key` on this node.
   */
  async lastRender(key: string, render: () => Promise<string>): Promise<LastRender<T>> {
    const kept = this.#keptObjects(key);
    if (kept !== undefined || !this.#applied.has(key)) return kept ?? "none";
    const json = await render();
    // Read again: an apply may have been recorded (or the record removed) while rendering.
    const now = this.#applied.get(key);
    if (now === undefined) return "none";
    const keptNow = this.#keptObjects(key);
    if (keptNow !== undefined) return keptNow;
    const digest = renderDigest(json);
    if (digest !== now.digest) return "changed";
    const objects = JSON.parse(json) as T;
    setMostRecent(this.#recent, key, { digest, objects }, this.#max);
    return { objects };
  }

  /** The kept objects of `key`'s last apply, now the most recently used; undefined when they are not kept. */
  #keptObjects(key: string): { objects: T } | undefined {
    const kept = this.#recent.get(key);
    if (kept === undefined || kept.digest !== this.#applied.get(key)?.digest) return undefined;
    setMostRecent(this.#recent, key, kept, this.#max);
    return { objects: kept.objects };
  }

  /** How many records have an apply recorded, and how many of them have their objects kept (tests). */
  get size(): { applied: number; kept: number } {
    return { applied: this.#applied.size, kept: this.#recent.size };
  }
}
