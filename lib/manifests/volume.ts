/**
 * A volume record's object: one PersistentVolumeClaim (component `volume`).
 * `storageClassName` is left out when the record names no class, so the cluster's default StorageClass applies.
 */
import type { V1PersistentVolumeClaim } from "@kubernetes/client-node";
import { generateAnnotations, generateLabels } from "./labels.ts";

export { isValidStorageSize, parseQuantity } from "./quantity.ts";

export const DEFAULT_ACCESS_MODES: readonly AccessMode[] = Object.freeze(["ReadWriteOnce"]);
export const DEFAULT_VOLUME_SIZE = "1Gi";

export type AccessMode = "ReadWriteOnce" | "ReadOnlyMany" | "ReadWriteMany" | "ReadWriteOncePod";

export interface PersistentVolumeClaimInput {
  /** The volume record's id. */
  readonly id: string;
  /** The Kubernetes namespace name. */
  readonly namespace: string;
  /** The claim's name (the volume record's name; deployments mount it by this `claimName`). */
  readonly name: string;
  /** A storage quantity such as "1Gi" (check it with `isValidStorageSize`); DEFAULT_VOLUME_SIZE when not given. */
  readonly size?: string;
  /** A StorageClass name; the cluster default when not given. */
  readonly storageClass?: string;
  /** Access modes; ["ReadWriteOnce"] when not given or empty. */
  readonly accessModes?: readonly AccessMode[];
}

/** The PVC, `Filesystem` mode, requesting `size`. */
export function renderPersistentVolumeClaim(input: PersistentVolumeClaimInput): V1PersistentVolumeClaim {
  const accessModes =
    input.accessModes === undefined || input.accessModes.length === 0 ? DEFAULT_ACCESS_MODES : input.accessModes;
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels: generateLabels({ component: "volume", name: input.name, id: input.id }),
      annotations: generateAnnotations({ id: input.id }),
    },
    spec: {
      accessModes: [...accessModes],
      volumeMode: "Filesystem",
      resources: { requests: { storage: input.size ?? DEFAULT_VOLUME_SIZE } },
      ...(input.storageClass === undefined ? {} : { storageClassName: input.storageClass }),
    },
  };
}
