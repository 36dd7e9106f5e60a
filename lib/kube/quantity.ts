/**
 * Kubernetes resource quantities ("250m", "1.5", "64Mi", "1G", "12e3") as numbers: CPU in millicores, memory in bytes.
 * The parsing itself is lib/manifests/quantity.ts's, so the renderers and the cluster client read quantities alike.
 */
import { parseQuantity as parseQuantityOrUndefined } from "../manifests/quantity.ts";

/** The value of a quantity in base units (cores, bytes); NaN when it is not a quantity. */
export function parseQuantity(quantity: string): number {
  return parseQuantityOrUndefined(quantity) ?? Number.NaN;
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
