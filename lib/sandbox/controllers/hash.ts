/**
 * Hashes and names as the kube-controller-manager makes them: the pod-template-hash (FNV-32a of the pod template,
 * written with apimachinery's SafeEncodeString alphabet) and the 5-character random suffixes of generated names.
 */
import { hash as cryptoHash, randomInt } from "node:crypto";
import { jsonCopy } from "../json.ts";

/** apimachinery util/rand: consonants and digits that cannot spell words. */
export const SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/** JSON with object keys sorted, so that equal objects give equal text whatever their key order. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : stableStringify(v))).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
}

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`. */
export function fnv32a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** Drops nulls and empty objects, which decode to the same Go zero values as absent fields. */
function zeroless(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(zeroless);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const z = zeroless(v);
    if (z === null || z === undefined) continue;
    if (typeof z === "object" && !Array.isArray(z) && Object.keys(z).length === 0) continue;
    out[k] = z;
  }
  return out;
}

/** rand.SafeEncodeString: maps each character onto the safe alphabet. */
export function safeEncode(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) out += SAFE_ALPHABET[text.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

/**
 * The `pod-template-hash` of a Deployment's pod template (controller.ComputeHash): FNV-32a of the template, plus the
 * collision count when there is one, encoded with the safe alphabet (8 to 10 characters, e.g. "7c5ddbdf54").
 * The `pod-template-hash` label itself is left out, so a ReplicaSet's template hashes like its Deployment's.
 */
export function podTemplateHash(template: unknown, collisionCount?: number): string {
  let normalized = template;
  if (template !== null && typeof template === "object") {
    const t = jsonCopy(template) as { metadata?: { labels?: Record<string, string> } };
    if (t.metadata?.labels) delete t.metadata.labels["pod-template-hash"];
    normalized = zeroless(t);
  }
  const text = stableStringify(normalized) + (collisionCount ? `#${collisionCount}` : "");
  return safeEncode(String(fnv32a(text)));
}

/** A random suffix of generated names (`<replicaset>-<5 chars>`). */
export function randomSuffix(length = 5): string {
  let out = "";
  for (let i = 0; i < length; i++) out += SAFE_ALPHABET[randomInt(SAFE_ALPHABET.length)];
  return out;
}

/** Hex SHA-256 of a text: digests, container ids and other stable fake identifiers. */
export function sha256Hex(text: string): string {
  return cryptoHash("sha256", text, "hex");
}

/** A deterministic pseudo-random generator (mulberry32) seeded from a text. */
export function seededRandom(seed: string): () => number {
  let state = fnv32a(seed);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
