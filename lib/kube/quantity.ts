/**
 * Kubernetes resource quantities ("250m", "1.5", "64Mi", "1G", "12e3") as numbers: CPU in millicores, memory in bytes.
 */

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** The value of a quantity in base units (cores, bytes); NaN when it is not a quantity. */
export function parseQuantity(quantity: string): number {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E)?)$/.exec(
    quantity.trim(),
  );
  if (m === null) return Number.NaN;
  const value = Number(m[1]);
  if (m[2] !== undefined) return value * (BINARY[m[2]] ?? Number.NaN);
  if (m[3] !== undefined) return value * 10 ** Number(m[3].slice(1));
  return value * (DECIMAL[m[4] ?? ""] ?? Number.NaN);
}

/** CPU in millicores, rounded to a thousandth of a millicore. */
export function cpuMillicores(quantity: string): number {
  return Math.round(parseQuantity(quantity) * 1e6) / 1e3;
}

/** Memory in bytes (whole). */
export function memoryBytes(quantity: string): number {
  return Math.round(parseQuantity(quantity));
}

/** Bytes as MiB with two decimals. */
export function toMi(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 100) / 100;
}
