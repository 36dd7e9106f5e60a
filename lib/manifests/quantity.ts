/**
 * Kubernetes resource quantities: formatting the suite's integer units (CPU millicores, memory MiB, storage GiB) as
 * the strings the API server stores, and parsing quantity strings such as `1Gi` or `500Mi`.
 *
 * Formatting produces the API server's canonical form (`1000m` → `1`, `1024Mi` → `1Gi`), so an object read back from
 * the cluster compares equal to the rendered one and drift checks do not see a change that is not there.
 */

const BINARY_SUFFIXES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"] as const;

/** CPU millicores as a canonical quantity: 500 → "500m", 1000 → "1", 1500 → "1500m", 0 → "0". */
export function cpuQuantity(millicores: number): string {
  if (millicores === 0) return "0";
  return millicores % 1000 === 0 ? String(millicores / 1000) : `${millicores}m`;
}

/** A count of 1024^exponent units as a canonical binary-SI quantity (largest exact suffix). */
function binaryQuantity(value: number, exponent: number): string {
  if (value === 0) return "0";
  let v = value;
  let e = exponent;
  while (e < BINARY_SUFFIXES.length - 1 && v % 1024 === 0) {
    v /= 1024;
    e += 1;
  }
  return `${v}${BINARY_SUFFIXES[e] ?? ""}`;
}

/** Memory in MiB as a canonical quantity: 512 → "512Mi", 1024 → "1Gi", 0 → "0". */
export function memoryQuantity(mebibytes: number): string {
  return binaryQuantity(mebibytes, 2);
}

/** Storage in GiB as a canonical quantity: 10 → "10Gi", 1024 → "1Ti". */
export function storageQuantity(gibibytes: number): string {
  return binaryQuantity(gibibytes, 3);
}

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

const MULTIPLIERS: Readonly<Record<string, number>> = {
  "": 1,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/**
 * Parses a Kubernetes quantity (`1Gi`, `500Mi`, `1.5G`, `100m`, `1e3`, `-1Gi`) to its numeric value in base units
 * (bytes for memory and storage, cores for CPU). Returns undefined when the string is not a quantity.
 * Values past 2^53 lose precision (a JavaScript number); that is enough for comparisons and checks.
 */
export function parseQuantity(value: string): number | undefined {
  const m = QUANTITY.exec(value.trim());
  if (m === null) return undefined;
  const [, sign, digits, suffix = ""] = m;
  const base = Number(digits);
  const multiplier = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : MULTIPLIERS[suffix];
  if (multiplier === undefined || !Number.isFinite(base)) return undefined;
  const n = base * multiplier;
  return sign === "-" ? -n : n;
}

/**
 * A PVC size: a quantity of at least one whole byte (`1Gi`, `500Mi`, `10G`, `1073741824`); rejects negatives, zero,
 * fractions of a byte (`500m` is half a byte) and text that is no quantity (`lots`).
 */
export function isValidStorageSize(value: string): boolean {
  const n = parseQuantity(value);
  return n !== undefined && Number.isFinite(n) && n >= 1 && Number.isInteger(n);
}
