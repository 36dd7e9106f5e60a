/**
 * Kubernetes resource quantities ("500m", "1.5Gi", "2k"), exact: kept as a bigint count of milli-units, as
 * apimachinery's `resource.Quantity` does for everything the sandbox meets. The text form is the canonical one
 * kube-apiserver writes (`1000m` -> `1`, `2048Mi` -> `2Gi`, `1536` stays `1536`, `2000` -> `2k`).
 */

export type QuantityFormat = "DecimalSI" | "BinarySI";

export interface Quantity {
  /** The value in thousandths (1 = "1m"). Sub-milli values ("1n", "1u") are rounded up, as MilliValue() does. */
  readonly milli: bigint;
  readonly format: QuantityFormat;
}

const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
/** Decimal suffixes as a power of ten. */
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const PATTERN = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

export const ZERO: Quantity = { milli: 0n, format: "DecimalSI" };

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

function ceilDiv(a: bigint, b: bigint): bigint {
  if (a >= 0n) return (a + b - 1n) / b;
  return -(-a / b);
}

/** Parses a quantity; undefined when the text is not one. */
export function tryParseQuantity(text: string | number | undefined | null): Quantity | undefined {
  if (text === undefined || text === null) return undefined;
  const match = PATTERN.exec(String(text).trim());
  if (!match) return undefined;
  const [, sign = "", number = "0", suffix, exponent] = match;
  const [whole = "", fraction = ""] = number.split(".");
  const digits = BigInt((whole + fraction).replace(/^0+(?=\d)/, "") || "0");
  const negative = sign === "-" ? -1n : 1n;
  let milli: bigint;
  let format: QuantityFormat = "DecimalSI";
  if (suffix !== undefined && suffix in BINARY) {
    format = "BinarySI";
    milli = ceilDiv(digits * (BINARY[suffix] ?? 1n) * 1000n, pow10(fraction.length));
  } else {
    const power = (exponent !== undefined ? Number(exponent) : (DECIMAL[suffix ?? ""] ?? 0)) + 3 - fraction.length;
    milli = power >= 0 ? digits * pow10(power) : ceilDiv(digits, pow10(-power));
  }
  return { milli: milli * negative, format };
}

/** Parses a quantity; throws a plain Error on bad input (callers validate first). */
export function parseQuantity(text: string | number): Quantity {
  const q = tryParseQuantity(text);
  if (!q)
    throw new Error(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
  return q;
}

export function addQuantities(a: Quantity, b: Quantity): Quantity {
  return { milli: a.milli + b.milli, format: a.milli === 0n && a === ZERO ? b.format : a.format };
}

export function subtractQuantities(a: Quantity, b: Quantity): Quantity {
  return { milli: a.milli - b.milli, format: a.format };
}

export function compareQuantities(a: Quantity, b: Quantity): number {
  return a.milli < b.milli ? -1 : a.milli > b.milli ? 1 : 0;
}

export function maxQuantity(a: Quantity, b: Quantity): Quantity {
  return compareQuantities(a, b) >= 0 ? a : b;
}

const DECIMAL_UP = ["", "k", "M", "G", "T", "P", "E"];
const BINARY_UP = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/** The canonical text of a quantity, as kube-apiserver prints it. */
export function formatQuantity(q: Quantity): string {
  const negative = q.milli < 0n;
  const abs = negative ? -q.milli : q.milli;
  const sign = negative ? "-" : "";
  if (abs === 0n) return "0";
  if (abs % 1000n !== 0n) return `${sign}${abs}m`;
  let value = abs / 1000n;
  if (q.format === "BinarySI" && value >= 1024n) {
    let i = 0;
    while (i < BINARY_UP.length - 1 && value % 1024n === 0n) {
      value /= 1024n;
      i++;
    }
    return `${sign}${value}${BINARY_UP[i]}`;
  }
  let i = 0;
  while (i < DECIMAL_UP.length - 1 && value % 1000n === 0n) {
    value /= 1000n;
    i++;
  }
  return `${sign}${value}${DECIMAL_UP[i]}`;
}

/** Re-writes a quantity text in canonical form (unparsable text is returned as is). */
export function canonicalQuantity(text: string): string {
  const q = tryParseQuantity(text);
  return q ? formatQuantity(q) : text;
}

/** Whole units, rounded up ("1500m" -> 2, "1Ki" -> 1024). */
export function quantityValue(q: Quantity): bigint {
  return ceilDiv(q.milli, 1000n);
}
