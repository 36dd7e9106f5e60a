/**
 * `examples.reference`: the reference document's example (a shared PVC, php-fpm and nginx with a `default.conf`
 * whose `fastcgi_pass` points at the php Service), run from `ctx.call` exactly as the reference writes it. Put it on
 * any node of a suite (it calls only the suite's actions) and call `examples.reference.run`; `examples.reference.remove`
 * takes it down again. `npx node examples/reference-example.ts` runs it (see that file).
 */
import type { Context, ServiceSchema } from "moleculer";
import type { DeploymentEntity, ImageEntity, NamespaceEntity } from "../lib/entities.ts";
import { defineParams, type ParamsOf } from "../lib/params.ts";

export const referenceExampleParams = defineParams({
  $$strict: true,
  /** The app's name: deployments `<name>-php` and `<name>-nginx`, volume `<name>-nginx-php-data`. */
  name: { type: "string", empty: false, max: 40, pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/, default: "my-app" },
  /** The namespace record's name (the reference resolves `default`). */
  namespace: { type: "string", empty: false, max: 63, default: "default" },
  /** The nginx vHost; the reference uses `<name>.nginx.example.com`. */
  vHost: { type: "string", empty: false, max: 253, optional: true },
});
export type ReferenceExampleParams = ParamsOf<typeof referenceExampleParams>;

/** Volume records as the volumes service answers them (the fields the example reads). */
interface VolumeEntity {
  id: string;
  name: string;
  namespace: string;
}

export interface ReferenceExampleResult {
  namespace: NamespaceEntity;
  sharedVolume: VolumeEntity;
  php: DeploymentEntity;
  nginx: DeploymentEntity;
}

/** The nginx server block of the reference, with fastcgi_pass at `<php deployment>-service.<namespace>.svc.cluster.local:9000`. */
export function nginxDefaultConf(
  phpDeploymentName: string,
  namespaceName: string,
  serviceURL = "svc.cluster.local",
): string {
  return `
server {
    index index.php index.html;
    error_log  /var/log/nginx/error.log;
    access_log /var/log/nginx/access.log;
    root /var/www/html;

    location / {
        try_files $uri $uri/ /index.php?$query_string;
    }

    location ~ .php$ {
        try_files $uri =404;
        fastcgi_split_path_info ^(.+.php)(/.+)$;
        fastcgi_pass ${phpDeploymentName}-service.${namespaceName}.${serviceURL}:9000;
        fastcgi_index index.php;
        include fastcgi_params;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_param PATH_INFO $fastcgi_path_info;
        
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $proxy_protocol_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $proxy_protocol;
        proxy_set_header X-Forwarded-Port $proxy_protocol_port;

    }
}`;
}

const schema: ServiceSchema = {
  name: "examples.reference",

  actions: {
    /** Runs the reference example in the namespace record named `namespace`, as its owner. */
    run: {
      params: referenceExampleParams,
      async handler(ctx: Context<ReferenceExampleParams>): Promise<ReferenceExampleResult> {
        // Get namespace
        const namespace = await ctx.call<NamespaceEntity, { name: string }>("v1.k8s.namespaces.resolveName", {
          name: ctx.params.namespace,
        });

        // deployment membership
        const options = {
          meta: {
            userID: namespace.owner,
          },
        };

        const name = ctx.params.name;
        const serviceURL = "svc.cluster.local";

        // Storage: a shared volume for both deployments
        const sharedVolume = await ctx.call<VolumeEntity, Record<string, unknown>>(
          "v1.k8s.volumes.create",
          {
            namespace: namespace.id,
            name: `${name}-nginx-php-data`,
            type: "persistentVolumeClaim",
            mountPath: "/var/www/html",
          },
          options,
        );

        // Deployment: php-fpm
        const phpImage = await ctx.call<ImageEntity, { name: string }>("v1.k8s.images.resolveName", {
          name: "php-8-1-0-fpm",
        });
        const phpSchema = {
          name: `${name}-php`,
          namespace: namespace.id,
          image: phpImage.id,
          volumes: [
            {
              name: "php-data",
              type: "persistentVolumeClaim",
              mountPath: "/var/www/html",
              persistentVolumeClaim: {
                claimName: sharedVolume.name,
              },
            },
          ],
        };
        const php = await ctx.call<DeploymentEntity, typeof phpSchema>("v1.k8s.deployments.create", phpSchema, options);

        // Deployment: nginx, in front of php
        const nginxImage = await ctx.call<ImageEntity, { name: string }>("v1.k8s.images.resolveName", {
          name: "nginx-1-27",
        });
        const nginxSchema = {
          name: `${name}-nginx`,
          namespace: namespace.id,
          image: nginxImage.id,
          vHosts: [ctx.params.vHost ?? name + ".nginx.example.com"],
          volumes: [
            {
              name: "nginx-data",
              type: "persistentVolumeClaim",
              mountPath: "/var/www/html",
              persistentVolumeClaim: {
                claimName: sharedVolume.name,
              },
            },
          ],
          configMap: {
            name: "nginx-config",
            data: {
              "default.conf": nginxDefaultConf(phpSchema.name, namespace.name, serviceURL),
            },
          },
        };
        const nginx = await ctx.call<DeploymentEntity, typeof nginxSchema>(
          "v1.k8s.deployments.create",
          nginxSchema,
          options,
        );

        return { namespace, sharedVolume, php, nginx };
      },
    },

    /** Removes what `run` made: both deployments (their envs go with them), then the shared volume. */
    remove: {
      params: referenceExampleParams,
      async handler(ctx: Context<ReferenceExampleParams>): Promise<{ removed: string[] }> {
        const namespace = await ctx.call<NamespaceEntity, { name: string }>("v1.k8s.namespaces.resolveName", {
          name: ctx.params.namespace,
        });
        const options = { meta: { userID: namespace.owner } };
        const name = ctx.params.name;
        const removed: string[] = [];
        for (const deployment of [`${name}-nginx`, `${name}-php`]) {
          const found = await ctx.call<DeploymentEntity[], Record<string, unknown>>(
            "v1.k8s.deployments.find",
            { query: { namespace: namespace.id, name: deployment } },
            options,
          );
          for (const d of found) {
            await ctx.call("v1.k8s.deployments.remove", { id: d.id }, options);
            removed.push(`deployment/${d.name}`);
          }
        }
        const volumes = await ctx.call<VolumeEntity[], Record<string, unknown>>(
          "v1.k8s.volumes.find",
          { query: { namespace: namespace.id, name: `${name}-nginx-php-data` } },
          options,
        );
        for (const v of volumes) {
          await ctx.call("v1.k8s.volumes.remove", { id: v.id }, options);
          removed.push(`volume/${v.name}`);
        }
        return { removed };
      },
    },
  },
};

export default schema;
