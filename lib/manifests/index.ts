/**
 * Pure renderers: a resolved record in, Kubernetes objects out (STYLE §2.4). No I/O, clock, randomness or env reads;
 * same input → deep-equal output. Objects use @kubernetes/client-node's V1* model shapes (send them through
 * client-node's ObjectSerializer, as `KubernetesObjectApi` does, to get the wire form: LimitRange's `_default` →
 * `default`).
 */
export * from "./labels.ts";
export * from "./namespace.ts";
export * from "./volume.ts";
export * from "./env.ts";
export * from "./deployment.ts";
export * from "./validate.ts";
export { cpuQuantity, memoryQuantity, storageQuantity } from "./quantity.ts";
