import { describe, expect, it } from "@jest/globals";
import type { KubernetesObject, V1Deployment } from "@kubernetes/client-node";
import type { Image } from "../../../lib/entities.ts";
import {
  type DeploymentInput,
  type ImageSpec,
  effectiveResources,
  imageReference,
  httpPort,
  ingressPort,
  namedPorts,
  podChecksum,
  renderConfigMap,
  renderDeployment,
  renderDeploymentObjects,
  renderIngress,
  renderService,
  serviceHost,
} from "../../../lib/manifests/deployment.ts";
import { envChecksum } from "../../../lib/manifests/env.ts";
import { deploymentInputIssues } from "../../../lib/manifests/validate.ts";
import { CHECKSUM_ANNOTATION, getIdFromAnnotation, selectorLabels } from "../../../lib/manifests/labels.ts";
import {
  DEFAULT_CONF,
  NAMESPACE,
  NGINX_DEPLOYMENT,
  NGINX_IMAGE,
  PHP_DEPLOYMENT,
  PHP_IMAGE,
  SHARED_CLAIM,
  deepFreeze,
  expectWellFormed,
} from "./fixtures.ts";

const NGINX_LABELS = {
  "app.kubernetes.io/managed-by": "moleculer-k8s",
  "app.kubernetes.io/part-of": "moleculer-k8s",
  "app.kubernetes.io/name": "my-app-nginx",
  "app.kubernetes.io/instance": "my-app-nginx",
  "app.kubernetes.io/component": "deployment",
  "moleculer-k8s/id": "ngx0000000000001",
};
const NGINX_SELECTOR = {
  "app.kubernetes.io/managed-by": "moleculer-k8s",
  "app.kubernetes.io/name": "my-app-nginx",
  "app.kubernetes.io/instance": "my-app-nginx",
};

function checksumOf(d: V1Deployment): string | undefined {
  return d.spec?.template.metadata?.annotations?.[CHECKSUM_ANNOTATION];
}

function with_(patch: Partial<DeploymentInput>, base: DeploymentInput = NGINX_DEPLOYMENT): DeploymentInput {
  return { ...base, ...patch };
}

describe("lib/manifests/deployment renderDeployment", () => {
  it("renders the whole nginx Deployment of the reference example", () => {
    expect(renderDeployment(NGINX_DEPLOYMENT)).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        name: "my-app-nginx",
        namespace: NAMESPACE,
        labels: NGINX_LABELS,
        annotations: { "moleculer-k8s/id": "ngx0000000000001", "moleculer-k8s/revision": "3" },
      },
      spec: {
        replicas: 2,
        revisionHistoryLimit: 10,
        selector: { matchLabels: NGINX_SELECTOR },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } },
        template: {
          metadata: {
            labels: NGINX_LABELS,
            annotations: {
              "moleculer-k8s/id": "ngx0000000000001",
              "moleculer-k8s/config-checksum": podChecksum(NGINX_DEPLOYMENT),
            },
          },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: { seccompProfile: { type: "RuntimeDefault" } },
            containers: [
              {
                name: "my-app-nginx",
                image: "docker.io/nginx:1.25",
                imagePullPolicy: "IfNotPresent",
                ports: [{ name: "http", containerPort: 80, protocol: "TCP" }],
                envFrom: [
                  { configMapRef: { name: "my-app-nginx-env", optional: true } },
                  { secretRef: { name: "my-app-nginx-env", optional: true } },
                ],
                resources: { limits: { cpu: "500m", memory: "512Mi" }, requests: { cpu: "100m", memory: "64Mi" } },
                volumeMounts: [
                  { name: "nginx-data", mountPath: "/var/www/html" },
                  {
                    name: "nginx-config",
                    mountPath: "/etc/nginx/conf.d/default.conf",
                    subPath: "default.conf",
                    readOnly: true,
                  },
                ],
                securityContext: { allowPrivilegeEscalation: false },
              },
            ],
            volumes: [
              { name: "nginx-data", persistentVolumeClaim: { claimName: SHARED_CLAIM } },
              { name: "nginx-config", configMap: { name: "my-app-nginx-nginx-config" } },
            ],
          },
        },
      },
    });
  });

  it("renders the php-fpm Deployment with the image's port 9000, resources and the shared claim", () => {
    const d = renderDeployment(PHP_DEPLOYMENT);
    const c = d.spec?.template.spec?.containers[0];
    expect(c?.image).toBe("docker.io/php:8.1.0-fpm");
    expect(c?.ports).toEqual([{ name: "php", containerPort: 9000, protocol: "TCP" }]);
    expect(c?.resources).toEqual({
      limits: { cpu: "500m", memory: "500Mi" },
      requests: { cpu: "100m", memory: "20Mi" },
    });
    expect(c?.volumeMounts).toEqual([{ name: "php-data", mountPath: "/var/www/html" }]);
    expect(d.spec?.template.spec?.volumes).toEqual([
      { name: "php-data", persistentVolumeClaim: { claimName: SHARED_CLAIM } },
    ]);
    expect(d.spec?.template.spec).not.toHaveProperty("imagePullSecrets");
    expectWellFormed(d);
  });

  it("mounts the nginx config file at /etc/nginx/conf.d/default.conf from the <name>-<configMap.name> ConfigMap", () => {
    const spec = renderDeployment(NGINX_DEPLOYMENT).spec?.template.spec;
    const mount = spec?.containers[0]?.volumeMounts?.find((m) => m.mountPath === "/etc/nginx/conf.d/default.conf");
    expect(mount).toEqual({
      name: "nginx-config",
      mountPath: "/etc/nginx/conf.d/default.conf",
      subPath: "default.conf",
      readOnly: true,
    });
    const volume = spec?.volumes?.find((v) => v.name === mount?.name);
    expect(volume?.configMap?.name).toBe(renderConfigMap(NGINX_DEPLOYMENT)?.metadata?.name);
  });

  it("mounts every config key as a file, in key order, at the configMap's own mountPath when it has one", () => {
    const input = with_({
      configMap: { name: "conf", data: { "b.conf": "b", "a.conf": "a" }, mountPath: "/etc/app/" },
    });
    const mounts = renderDeployment(input).spec?.template.spec?.containers[0]?.volumeMounts;
    expect(mounts?.slice(1)).toEqual([
      { name: "conf", mountPath: "/etc/app/a.conf", subPath: "a.conf", readOnly: true },
      { name: "conf", mountPath: "/etc/app/b.conf", subPath: "b.conf", readOnly: true },
    ]);
  });

  it("renders but does not mount a configMap when neither it nor the image says where", () => {
    const input = with_({ image: PHP_IMAGE, configMap: { name: "conf", data: { "x.ini": "" } } });
    const spec = renderDeployment(input).spec?.template.spec;
    expect(spec?.volumes?.map((v) => v.name)).toEqual(["nginx-data"]);
    expect(renderConfigMap(input)?.metadata?.name).toBe("my-app-nginx-conf");
  });

  it("keeps the selector when image, replicas, config, env, vHosts, resources or revision change", () => {
    const selector = renderDeployment(NGINX_DEPLOYMENT).spec?.selector;
    expect(selector).toEqual({ matchLabels: NGINX_SELECTOR });
    for (const changed of [
      with_({ image: PHP_IMAGE }),
      with_({ replicas: 0 }),
      with_({ configMap: { name: "other", data: { "x.conf": "x" } } }),
      with_({ env: { checksum: envChecksum({ A: "1" }, {}) } }),
      with_({ vHosts: [] }),
      with_({ resources: { limits: { cpu: 2000 } } }),
      with_({ revision: 99, restartedAt: "2026-11-26T18:00:00Z" }),
      with_({ id: "another-record-id" }),
    ]) {
      expect(renderDeployment(changed).spec?.selector).toEqual(selector);
      expect(renderService(changed)?.spec?.selector ?? NGINX_SELECTOR).toEqual(selector?.matchLabels);
    }
    expect(selector?.matchLabels).toEqual(selectorLabels({ name: "my-app-nginx" }));
  });

  it("changes the pod checksum when an env value or a config file changes, and not otherwise", () => {
    const base = checksumOf(renderDeployment(NGINX_DEPLOYMENT));
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    const changedEnv = with_({ env: { ...NGINX_DEPLOYMENT.env, checksum: envChecksum({ X: "1" }, {}) } });
    expect(checksumOf(renderDeployment(changedEnv))).not.toBe(base);
    const changedConf = with_({ configMap: { name: "nginx-config", data: { "default.conf": `${DEFAULT_CONF}\n` } } });
    expect(checksumOf(renderDeployment(changedConf))).not.toBe(base);
    const addedFile = with_({
      configMap: { name: "nginx-config", data: { "default.conf": DEFAULT_CONF, "x.conf": "" } },
    });
    expect(checksumOf(renderDeployment(addedFile))).not.toBe(base);
    expect(checksumOf(renderDeployment(with_({ configMap: undefined as never })))).not.toBe(base);
    for (const same of [
      with_({ replicas: 5 }),
      with_({ image: { ...NGINX_IMAGE, image: "nginx:1.27" } }),
      with_({ vHosts: ["other.example.com"] }),
      with_({ revision: 4 }),
      with_({ resources: { limits: { memory: 1024 } } }),
      with_({ env: { checksum: NGINX_DEPLOYMENT.env.checksum } }),
    ]) {
      expect(checksumOf(renderDeployment(same))).toBe(base);
    }
  });

  it("adds kubectl's restartedAt annotation to the pod template when restartedAt is set", () => {
    const at = "2026-11-26T18:00:00.000Z";
    const annotations = renderDeployment(with_({ restartedAt: at })).spec?.template.metadata?.annotations;
    expect(annotations?.["kubectl.kubernetes.io/restartedAt"]).toBe(at);
    expect(renderDeployment(NGINX_DEPLOYMENT).spec?.template.metadata?.annotations).not.toHaveProperty(
      "kubectl.kubernetes.io/restartedAt",
    );
  });

  it("reads env from only the objects it is given, and pulls with the image's pull secrets", () => {
    const input = with_({
      env: { secretName: "my-app-nginx-env", checksum: "c" },
      image: { ...NGINX_IMAGE, imagePullSecrets: ["regcred", { name: "other" }] },
    });
    const spec = renderDeployment(input).spec?.template.spec;
    expect(spec?.containers[0]?.envFrom).toEqual([{ secretRef: { name: "my-app-nginx-env", optional: true } }]);
    expect(spec?.imagePullSecrets).toEqual([{ name: "regcred" }, { name: "other" }]);
    const none = renderDeployment(with_({ env: { checksum: "c" }, volumes: [], configMap: undefined as never }));
    expect(none.spec?.template.spec?.containers[0]).not.toHaveProperty("envFrom");
    expect(none.spec?.template.spec?.containers[0]).not.toHaveProperty("volumeMounts");
    expect(none.spec?.template.spec).not.toHaveProperty("volumes");
  });

  it("mounts volumes with subPath and readOnly when given", () => {
    const input = with_({
      volumes: [
        {
          name: "data",
          type: "persistentVolumeClaim",
          mountPath: "/data",
          subPath: "app",
          readOnly: true,
          persistentVolumeClaim: { claimName: "pvc-a" },
        },
      ],
    });
    const spec = renderDeployment(input).spec?.template.spec;
    expect(spec?.containers[0]?.volumeMounts?.[0]).toEqual({
      name: "data",
      mountPath: "/data",
      subPath: "app",
      readOnly: true,
    });
    expect(spec?.volumes?.[0]).toEqual({ name: "data", persistentVolumeClaim: { claimName: "pvc-a" } });
  });
});

describe("lib/manifests/deployment emptyDir volumes and catalog images", () => {
  it("renders emptyDir volumes (with a size limit when given) beside claims", () => {
    const input = with_({
      volumes: [
        { name: "cache", type: "emptyDir", mountPath: "/var/cache/nginx", sizeLimit: "256Mi" },
        { name: "tmp", type: "emptyDir", mountPath: "/tmp" },
        ...NGINX_DEPLOYMENT.volumes,
      ],
    });
    const spec = renderDeployment(input).spec?.template.spec;
    expect(spec?.volumes?.slice(0, 3)).toEqual([
      { name: "cache", emptyDir: { sizeLimit: "256Mi" } },
      { name: "tmp", emptyDir: {} },
      { name: "nginx-data", persistentVolumeClaim: { claimName: SHARED_CLAIM } },
    ]);
    expect(spec?.containers[0]?.volumeMounts?.slice(0, 2)).toEqual([
      { name: "cache", mountPath: "/var/cache/nginx" },
      { name: "tmp", mountPath: "/tmp" },
    ]);
    expect(deploymentInputIssues(input)).toEqual([]);
    expect(
      deploymentInputIssues(with_({ volumes: [{ name: "t", type: "emptyDir", mountPath: "/t", sizeLimit: "lots" }] })),
    ).toEqual([{ type: "invalid", field: "volumes[0].sizeLimit", message: expect.any(String), actual: "lots" }]);
  });

  it("takes an image record of the catalog (lib/entities.ts Image) as its ImageSpec", () => {
    const record: Image = {
      name: "php-8-1-0-fpm",
      namespace: "library",
      tag: "8.1.0-fpm",
      digest: "sha256:001281a0eb6140b0e5096664d785abd6e6d2921316d002c1d912867725076299",
      image: "php:8.1.0-fpm",
      registry: "docker.io",
      repository: "library/php",
      description: "php",
      imagePullPolicy: "IfNotPresent",
      imagePullSecrets: [],
      ports: [{ name: "php", port: 9000, protocol: "TCP" }],
      env: [{ key: "PHP_ROOT_PASSWORD", type: "secret" }],
      volumes: [{ name: "php-data", type: "persistentVolumeClaim", mountPath: "/var/www/html" }],
      resources: { limits: { cpu: 500, memory: 500 }, requests: { cpu: 100, memory: 20 } },
    };
    const image: ImageSpec = record;
    expect(renderDeployment({ ...PHP_DEPLOYMENT, image })).toEqual(renderDeployment(PHP_DEPLOYMENT));
  });
});

describe("lib/manifests/deployment renderService", () => {
  it("renders the whole php Service <name>-service on port 9000, reachable at the reference example's host", () => {
    expect(renderService(PHP_DEPLOYMENT)).toEqual({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "my-app-php-service",
        namespace: NAMESPACE,
        labels: {
          ...NGINX_LABELS,
          "app.kubernetes.io/name": "my-app-php",
          "app.kubernetes.io/instance": "my-app-php",
          "moleculer-k8s/id": "php0000000000001",
        },
        annotations: { "moleculer-k8s/id": "php0000000000001" },
      },
      spec: {
        type: "ClusterIP",
        selector: selectorLabels({ name: "my-app-php" }),
        ports: [{ name: "php", port: 9000, targetPort: 9000, protocol: "TCP" }],
      },
    });
    const host = serviceHost(PHP_DEPLOYMENT.name, NAMESPACE);
    expect(host).toBe("my-app-php-service.my-namespace.svc.cluster.local");
    expect(NGINX_DEPLOYMENT.configMap?.data["default.conf"]).toContain(`fastcgi_pass ${host}:9000;`);
  });

  it("selects exactly the Deployment's pods", () => {
    const pods = renderDeployment(PHP_DEPLOYMENT).spec?.template.metadata?.labels;
    expect(pods).toMatchObject(renderService(PHP_DEPLOYMENT)?.spec?.selector ?? { missing: "selector" });
  });

  it("is undefined when the image has no ports (and then there is no Ingress either)", () => {
    const input = with_({ image: { ...NGINX_IMAGE, ports: [] } });
    expect(renderService(input)).toBeUndefined();
    expect(renderIngress(input)).toBeUndefined();
    expect(renderDeployment(input).spec?.template.spec?.containers[0]).not.toHaveProperty("ports");
    expect(renderDeploymentObjects(input).map((o) => o.kind)).toEqual(["ConfigMap", "Deployment"]);
  });

  it("gives every port a valid unique name", () => {
    const ports = namedPorts([
      { name: "HTTP", port: 80 },
      { name: "http", port: 8080 },
      { port: 9000 },
      { name: "a-very-long-port-name-indeed", port: 9100, protocol: "UDP" },
      { name: "1234", port: 53, protocol: "UDP" },
      { name: "--", port: 1 },
    ]);
    expect(ports).toEqual([
      { name: "http", port: 80, protocol: "TCP" },
      { name: "http-8080", port: 8080, protocol: "TCP" },
      { name: "port-9000", port: 9000, protocol: "TCP" },
      { name: "a-very-long-por", port: 9100, protocol: "UDP" },
      { name: "port-53", port: 53, protocol: "UDP" },
      { name: "port-1", port: 1, protocol: "TCP" },
    ]);
    const svc = renderService(
      with_({
        image: {
          ...NGINX_IMAGE,
          ports: [
            { name: "x", port: 1 },
            { name: "x", port: 1, protocol: "UDP" },
          ],
        },
      }),
    );
    expect(svc?.spec?.ports?.map((p) => p.name)).toEqual(["x", "x-1u"]);
    if (svc !== undefined) expectWellFormed(svc);
  });
});

describe("lib/manifests/deployment renderIngress", () => {
  it("renders the whole nginx Ingress: one rule per vHost to the Service's HTTP port", () => {
    expect(renderIngress(NGINX_DEPLOYMENT)).toEqual({
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: {
        name: "my-app-nginx-ingress",
        namespace: NAMESPACE,
        labels: NGINX_LABELS,
        annotations: { "moleculer-k8s/id": "ngx0000000000001" },
      },
      spec: {
        ingressClassName: "nginx",
        rules: [
          {
            host: "my-app.nginx.example.com",
            http: {
              paths: [
                {
                  path: "/",
                  pathType: "Prefix",
                  backend: { service: { name: "my-app-nginx-service", port: { number: 80 } } },
                },
              ],
            },
          },
        ],
      },
    });
  });

  it("has one rule per distinct vHost, no class when none is given, and is undefined without vHosts", () => {
    const input = with_({
      vHosts: ["a.example.com", "*.b.example.com", "a.example.com"],
      ingressClass: undefined as never,
    });
    const ing = renderIngress({ ...input });
    expect(ing?.spec?.rules?.map((r) => r.host)).toEqual(["a.example.com", "*.b.example.com"]);
    expect(ing?.spec).not.toHaveProperty("ingressClassName");
    expect(renderIngress(PHP_DEPLOYMENT)).toBeUndefined();
    expect(renderIngress(with_({ vHosts: [] }))).toBeUndefined();
  });

  it("routes to the first HTTP-looking TCP port, else the first TCP port", () => {
    expect(
      ingressPort([
        { name: "metrics", port: 9090 },
        { name: "web", port: 3001 },
      ])?.port,
    ).toBe(3001);
    expect(
      ingressPort([
        { name: "a", port: 9090 },
        { name: "b", port: 8080 },
      ])?.port,
    ).toBe(8080);
    expect(
      ingressPort([
        { name: "dns", port: 53, protocol: "UDP" },
        { name: "php", port: 9000 },
      ])?.port,
    ).toBe(9000);
    expect(ingressPort([{ name: "dns", port: 53, protocol: "UDP" }])).toBeUndefined();
    expect(ingressPort([])).toBeUndefined();
  });

  it("finds an HTTP port by name or number only (a database's port is none)", () => {
    expect(httpPort([{ name: "postgres", port: 5432 }])).toBeUndefined();
    expect(httpPort([{ name: "php", port: 9000 }])).toBeUndefined();
    expect(httpPort([{ name: "http", port: 80, protocol: "UDP" }])).toBeUndefined();
    expect(
      httpPort([
        { name: "metrics", port: 9090 },
        { name: "web-ui", port: 5000 },
      ])?.port,
    ).toBe(5000);
    expect(httpPort([{ name: "app", port: 3000 }])?.port).toBe(3000);
  });
});

describe("lib/manifests/deployment renderConfigMap", () => {
  it("renders the whole nginx config ConfigMap <name>-<configMap.name>", () => {
    expect(renderConfigMap(NGINX_DEPLOYMENT)).toEqual({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: "my-app-nginx-nginx-config",
        namespace: NAMESPACE,
        labels: NGINX_LABELS,
        annotations: { "moleculer-k8s/id": "ngx0000000000001" },
      },
      data: { "default.conf": DEFAULT_CONF },
    });
    expect(renderConfigMap(PHP_DEPLOYMENT)).toBeUndefined();
  });
});

describe("lib/manifests/deployment imageReference", () => {
  it("prefixes the registry unless the image names one, and prefers the tag over the digest", () => {
    const digest = "sha256:001281a0eb6140b0e5096664d785abd6e6d2921316d002c1d912867725076299";
    expect(imageReference(PHP_IMAGE)).toBe("docker.io/php:8.1.0-fpm");
    expect(imageReference({ image: "php:8.1.0-fpm", ports: [] })).toBe("php:8.1.0-fpm");
    expect(imageReference({ image: "php", digest, ports: [] })).toBe(`php@${digest}`);
    expect(imageReference({ image: "php", tag: "8.2-fpm", digest, ports: [] })).toBe("php:8.2-fpm");
    expect(imageReference({ image: "php", registry: "docker.io", ports: [] })).toBe("docker.io/php");
    expect(imageReference({ image: "ghcr.io/org/app:1.0", registry: "docker.io", ports: [] })).toBe(
      "ghcr.io/org/app:1.0",
    );
    expect(imageReference({ image: "localhost:5000/app", tag: "dev", registry: "x.io", ports: [] })).toBe(
      "localhost:5000/app:dev",
    );
    expect(imageReference({ image: "library/php", registry: "registry.example.com:5000/", ports: [] })).toBe(
      "registry.example.com:5000/library/php",
    );
    expect(imageReference({ image: `php@${digest}`, tag: "x", ports: [] })).toBe(`php@${digest}`);
  });
});

describe("lib/manifests/deployment effectiveResources", () => {
  it("takes the record's values over the image's field by field, capping requests at limits", () => {
    expect(effectiveResources(PHP_IMAGE.resources, undefined)).toEqual({
      limits: { cpu: "500m", memory: "500Mi" },
      requests: { cpu: "100m", memory: "20Mi" },
    });
    expect(effectiveResources(PHP_IMAGE.resources, { limits: { cpu: 2000 }, requests: { memory: 256 } })).toEqual({
      limits: { cpu: "2", memory: "500Mi" },
      requests: { cpu: "100m", memory: "256Mi" },
    });
    expect(effectiveResources(PHP_IMAGE.resources, { limits: { cpu: 50, memory: 10 } })).toEqual({
      limits: { cpu: "50m", memory: "10Mi" },
      requests: { cpu: "50m", memory: "10Mi" },
    });
    expect(effectiveResources({ requests: { cpu: 100 } }, undefined)).toEqual({ requests: { cpu: "100m" } });
    expect(effectiveResources(undefined, undefined)).toBeUndefined();
    expect(effectiveResources({}, {})).toBeUndefined();
  });

  it("leaves resources out of the container when neither image nor record has any", () => {
    const { resources: _unused, ...image } = NGINX_IMAGE;
    expect(renderDeployment(with_({ image })).spec?.template.spec?.containers[0]).not.toHaveProperty("resources");
  });
});

describe("lib/manifests/deployment renderDeploymentObjects", () => {
  it("renders ConfigMap, Deployment, Service, Ingress in apply order, all well-formed and owned by the record", () => {
    const objects = renderDeploymentObjects(NGINX_DEPLOYMENT);
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
      "ConfigMap/my-app-nginx-nginx-config",
      "Deployment/my-app-nginx",
      "Service/my-app-nginx-service",
      "Ingress/my-app-nginx-ingress",
    ]);
    for (const o of objects) {
      expectWellFormed(o);
      expect(getIdFromAnnotation(o)).toBe("ngx0000000000001");
      expect(o.metadata?.labels?.["moleculer-k8s/id"]).toBe("ngx0000000000001");
    }
    expect(renderDeploymentObjects(PHP_DEPLOYMENT).map((o) => o.kind)).toEqual(["Deployment", "Service"]);
  });

  it("is pure: a deep-frozen input renders twice to deep-equal objects", () => {
    const input = deepFreeze(structuredClone(NGINX_DEPLOYMENT));
    const first = renderDeploymentObjects(input);
    expect(renderDeploymentObjects(input)).toEqual(first);
    expect(input).toEqual(NGINX_DEPLOYMENT);
    const labels = first[1]?.metadata?.labels;
    if (labels !== undefined) labels.changed = "yes";
    expect(renderDeploymentObjects(input)[1]?.metadata?.labels).not.toHaveProperty("changed");
  });

  it("the well-formedness check catches a field the Kubernetes model does not know", () => {
    const typo = { ...renderDeployment(PHP_DEPLOYMENT), spec: { selektor: {} } } as unknown as KubernetesObject;
    expect(() => expectWellFormed(typo)).toThrow();
  });
});
