/**
 * Dynamic provisioning: a PersistentVolumeClaim gets a PersistentVolume `pvc-<uid>` (capacity from its storage
 * request, its storage class or "standard", a claimRef) and both become Bound, with a ProvisioningSucceeded event.
 * The class `sandbox-unavailable` never provisions (Warning ProvisioningFailed), so failure paths can be tested.
 * A deleted claim's volume is deleted too (reclaim policy Delete). Also the `standard` StorageClass, when served.
 */
import { DEFAULT_STORAGE_CLASS } from "./defaults.ts";
import type { KubeObject } from "../types.ts";
import type { AdmissionRequest } from "../store.ts";
import { invalidError } from "../status.ts";
import { NODE_NAME, SOURCES } from "./events.ts";
import { canonicalQuantity, compareQuantities, formatQuantity, tryParseQuantity } from "./quantity.ts";
import {
  R,
  copy,
  deleteQuietly,
  isAlreadyExists,
  isoSeconds,
  objectKey,
  splitKey,
  statusOf,
  writeStatus,
  type Context,
  type Controller,
} from "./runtime.ts";

export const UNAVAILABLE_STORAGE_CLASS = "sandbox-unavailable";
export const PROVISIONER = "rancher.io/local-path";

interface PvcSpec {
  accessModes?: string[];
  resources?: { requests?: { storage?: string } };
  storageClassName?: string | null;
  volumeName?: string;
  volumeMode?: string;
}
interface PvcStatus {
  phase?: string;
}

export function volumesController(ctx: Context): Controller {
  const name = "volumes";
  const RELEASE = "volumes-release";

  function reconcile(key: string): void {
    const { namespace, name: pvcName } = splitKey(key);
    const pvc = ctx.cache.get(R.pvcs, namespace, pvcName);
    if (!pvc || pvc.metadata.deletionTimestamp !== undefined) return;
    const status = statusOf<PvcStatus>(pvc);
    if (status.phase === "Bound") return expand(pvc);
    const spec = (pvc.spec ?? {}) as PvcSpec;
    const storageClass = spec.storageClassName ?? DEFAULT_STORAGE_CLASS;
    const current =
      status.phase === "Pending" ? pvc : writeStatus(ctx.store, R.pvcs, { ...pvc, status: { phase: "Pending" } });
    if (storageClass === UNAVAILABLE_STORAGE_CLASS) {
      ctx.events.record(
        pvc,
        "Warning",
        "ProvisioningFailed",
        `storageclass.storage.k8s.io "${UNAVAILABLE_STORAGE_CLASS}" not found`,
        SOURCES.pv,
      );
      return;
    }
    if (storageClass === "" && !spec.volumeName) {
      ctx.events.record(
        pvc,
        "Normal",
        "FailedBinding",
        "no persistent volumes available for this claim and no storage class is set",
        SOURCES.pv,
      );
      return;
    }
    const uid = pvc.metadata.uid ?? "";
    const pvName = spec.volumeName || `pvc-${uid}`;
    const storage = canonicalQuantity(spec.resources?.requests?.storage ?? "1Gi");
    const accessModes = spec.accessModes ?? ["ReadWriteOnce"];
    let pv = ctx.cache.get(R.pvs, undefined, pvName);
    if (!pv) {
      ctx.events.record(
        pvc,
        "Normal",
        "Provisioning",
        `External provisioner is provisioning volume for claim "${namespace ?? ""}/${pvcName}"`,
        SOURCES.provisioner,
      );
      try {
        pv = ctx.store.create(R.pvs, {
          apiVersion: "v1",
          kind: "PersistentVolume",
          metadata: {
            name: pvName,
            annotations: { "pv.kubernetes.io/provisioned-by": PROVISIONER },
          },
          spec: {
            accessModes,
            capacity: { storage },
            claimRef: {
              apiVersion: "v1",
              kind: "PersistentVolumeClaim",
              name: pvcName,
              namespace,
              resourceVersion: pvc.metadata.resourceVersion,
              uid,
            },
            hostPath: {
              path: `/var/local-path-provisioner/${pvName}_${namespace ?? ""}_${pvcName}`,
              type: "DirectoryOrCreate",
            },
            persistentVolumeReclaimPolicy: "Delete",
            storageClassName: storageClass,
            volumeMode: spec.volumeMode ?? "Filesystem",
          },
        });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        pv = ctx.store.get(R.pvs, undefined, pvName);
      }
      if (!pv) return;
      ctx.events.record(
        pvc,
        "Normal",
        "ProvisioningSucceeded",
        `Successfully provisioned volume ${pvName}`,
        SOURCES.provisioner,
      );
    }
    writeStatus(ctx.store, R.pvs, {
      ...pv,
      status: { phase: "Bound", lastPhaseTransitionTime: isoSeconds(ctx.now()) },
    });
    const bound = copy(current);
    (bound.spec as PvcSpec).volumeName = pvName;
    bound.metadata.annotations = {
      ...bound.metadata.annotations,
      "pv.kubernetes.io/bind-completed": "yes",
      "pv.kubernetes.io/bound-by-controller": "yes",
      "volume.beta.kubernetes.io/storage-provisioner": PROVISIONER,
      "volume.kubernetes.io/storage-provisioner": PROVISIONER,
    };
    const saved = ctx.store.update(R.pvcs, bound);
    writeStatus(ctx.store, R.pvcs, { ...saved, status: { phase: "Bound", accessModes, capacity: { storage } } });
  }

  /** A bound claim asking for more storage: the volume grows (online expansion) and the claim reports it. */
  function expand(pvc: KubeObject): void {
    const spec = (pvc.spec ?? {}) as PvcSpec;
    const status = statusOf<PvcStatus & { capacity?: { storage?: string } }>(pvc);
    const wanted = tryParseQuantity(spec.resources?.requests?.storage);
    const has = tryParseQuantity(status.capacity?.storage);
    if (!wanted || !has || compareQuantities(wanted, has) <= 0 || !spec.volumeName) return;
    const pv = ctx.store.getRef(R.pvs, undefined, spec.volumeName);
    if (!pv) return;
    const storage = formatQuantity(wanted);
    ctx.events.record(
      pvc,
      "Normal",
      "Resizing",
      `External resizer is resizing volume ${spec.volumeName}`,
      SOURCES.resizer,
    );
    const grown = copy(pv);
    (grown.spec as { capacity?: Record<string, string> }).capacity = { storage };
    ctx.store.update(R.pvs, grown);
    writeStatus(ctx.store, R.pvcs, { ...pvc, status: { ...status, capacity: { ...status.capacity, storage } } });
    ctx.events.record(
      pvc,
      "Normal",
      "FileSystemResizeSuccessful",
      `MountVolume.NodeExpandVolume succeeded for volume "${spec.volumeName}" ${NODE_NAME}`,
      SOURCES.kubelet,
    );
  }

  /** Claims may grow but not shrink (the apiserver's validation of a claim update). */
  function admit(request: AdmissionRequest): void {
    if (request.operation !== "UPDATE" || request.resource.key !== R.pvcs || !request.oldObject) return;
    const before = tryParseQuantity(((request.oldObject.spec ?? {}) as PvcSpec).resources?.requests?.storage);
    const after = tryParseQuantity(((request.object.spec ?? {}) as PvcSpec).resources?.requests?.storage);
    if (before && after && compareQuantities(after, before) < 0) {
      throw invalidError(request.resource, request.object.metadata.name, [
        {
          reason: "FieldValueForbidden",
          field: "spec.resources.requests.storage",
          message: "Forbidden: field can not be less than previous value",
        },
      ]);
    }
  }
  ctx.store.addAdmission((request) => {
    if (!ctx.stopped()) admit(request);
  });

  /** A claim went: its dynamically provisioned volume goes too (reclaim policy Delete). */
  function release(pvName: string): void {
    const pv = ctx.store.getRef(R.pvs, undefined, pvName);
    if (!pv) return;
    const spec = (pv.spec ?? {}) as { persistentVolumeReclaimPolicy?: string };
    if (spec.persistentVolumeReclaimPolicy !== "Delete") {
      writeStatus(ctx.store, R.pvs, { ...pv, status: { phase: "Released" } });
      return;
    }
    if ((pv.metadata.finalizers ?? []).length > 0) {
      const next = copy(pv);
      next.metadata.finalizers = [];
      ctx.store.update(R.pvs, next);
    }
    deleteQuietly(ctx.store, R.pvs, undefined, pvName);
  }

  function ensureStorageClass(): void {
    if (!ctx.store.types.byKey(R.storageClasses)) return;
    if (ctx.store.getRef(R.storageClasses, undefined, DEFAULT_STORAGE_CLASS)) return;
    try {
      ctx.store.create(R.storageClasses, {
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: {
          name: DEFAULT_STORAGE_CLASS,
          annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
        },
        provisioner: PROVISIONER,
        reclaimPolicy: "Delete",
        volumeBindingMode: "Immediate",
      });
    } catch (err) {
      if (!isAlreadyExists(err)) ctx.log(`volumes: cannot create the standard StorageClass: ${String(err)}`);
    }
  }

  ctx.queue.register(RELEASE, release);
  ctx.queue.register("volumes-bootstrap", ensureStorageClass);

  return {
    name,
    onEvent(ev, old): void {
      const meta = ev.object.metadata;
      if (ev.resource.key !== R.pvcs) return;
      if (ev.type === "MODIFIED" && old && old.metadata.generation === meta.generation) return;
      if (ev.type === "DELETED") {
        const volume = ((ev.object.spec ?? {}) as PvcSpec).volumeName;
        if (volume) {
          const pv = ctx.cache.get(R.pvs, undefined, volume);
          const claim = (pv?.spec as { claimRef?: { uid?: string } } | undefined)?.claimRef;
          if (pv && claim?.uid === meta.uid) ctx.queue.add(RELEASE, volume);
        }
        return;
      }
      ctx.queue.add(name, objectKey(meta.namespace, meta.name));
    },
    reconcile,
    resync(): void {
      ctx.queue.add("volumes-bootstrap", "standard");
      for (const pvc of ctx.cache.list(R.pvcs)) {
        if (statusOf<PvcStatus>(pvc).phase !== "Bound")
          ctx.queue.add(name, objectKey(pvc.metadata.namespace, pvc.metadata.name));
      }
    },
  };
}
