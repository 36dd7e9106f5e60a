/**
 * Field tables of the Kubernetes protobuf messages the sandbox decodes (generated from the generated.proto files of
 * k8s.io/api and k8s.io/apimachinery v0.26; field numbers never change). One entry per message:
 * "<number> <json name> <s|r|m (single, repeated, map<string, type>)> <type>;...". Types are proto scalars, other
 * messages, or the special forms quantity, intorstring, time, duration and raw.
 */
export const MESSAGES: Record<string, string> = {
  "apps.v1.Deployment":
    "1 metadata s meta.v1.ObjectMeta;2 spec s apps.v1.DeploymentSpec;3 status s apps.v1.DeploymentStatus",
  "apps.v1.DeploymentCondition":
    "1 type s string;2 status s string;4 reason s string;5 message s string;6 lastUpdateTime s time;7 lastTransitionTime s time",
  "apps.v1.DeploymentSpec":
    "1 replicas s int32;2 selector s meta.v1.LabelSelector;3 template s core.v1.PodTemplateSpec;4 strategy s apps.v1.DeploymentStrategy;5 minReadySeconds s int32;6 revisionHistoryLimit s int32;7 paused s bool;9 progressDeadlineSeconds s int32",
  "apps.v1.DeploymentStatus":
    "1 observedGeneration s int64;2 replicas s int32;3 updatedReplicas s int32;4 availableReplicas s int32;5 unavailableReplicas s int32;6 conditions r apps.v1.DeploymentCondition;7 readyReplicas s int32;8 collisionCount s int32",
  "apps.v1.DeploymentStrategy": "1 type s string;2 rollingUpdate s apps.v1.RollingUpdateDeployment",
  "apps.v1.ReplicaSet":
    "1 metadata s meta.v1.ObjectMeta;2 spec s apps.v1.ReplicaSetSpec;3 status s apps.v1.ReplicaSetStatus",
  "apps.v1.ReplicaSetCondition":
    "1 type s string;2 status s string;3 lastTransitionTime s time;4 reason s string;5 message s string",
  "apps.v1.ReplicaSetSpec":
    "1 replicas s int32;2 selector s meta.v1.LabelSelector;3 template s core.v1.PodTemplateSpec;4 minReadySeconds s int32",
  "apps.v1.ReplicaSetStatus":
    "1 replicas s int32;2 fullyLabeledReplicas s int32;3 observedGeneration s int64;4 readyReplicas s int32;5 availableReplicas s int32;6 conditions r apps.v1.ReplicaSetCondition",
  "apps.v1.RollingUpdateDeployment": "1 maxUnavailable s intorstring;2 maxSurge s intorstring",
  "batch.v1.Job": "1 metadata s meta.v1.ObjectMeta;2 spec s batch.v1.JobSpec;3 status s batch.v1.JobStatus",
  "batch.v1.JobCondition":
    "1 type s string;2 status s string;3 lastProbeTime s time;4 lastTransitionTime s time;5 reason s string;6 message s string",
  "batch.v1.JobSpec":
    "1 parallelism s int32;2 completions s int32;3 activeDeadlineSeconds s int64;4 selector s meta.v1.LabelSelector;5 manualSelector s bool;6 template s core.v1.PodTemplateSpec;7 backoffLimit s int32;8 ttlSecondsAfterFinished s int32;9 completionMode s string;10 suspend s bool;11 podFailurePolicy s batch.v1.PodFailurePolicy",
  "batch.v1.JobStatus":
    "1 conditions r batch.v1.JobCondition;2 startTime s time;3 completionTime s time;4 active s int32;5 succeeded s int32;6 failed s int32;7 completedIndexes s string;8 uncountedTerminatedPods s batch.v1.UncountedTerminatedPods;9 ready s int32",
  "batch.v1.PodFailurePolicy": "1 rules r batch.v1.PodFailurePolicyRule",
  "batch.v1.PodFailurePolicyOnExitCodesRequirement": "1 containerName s string;2 operator s string;3 values r int32",
  "batch.v1.PodFailurePolicyOnPodConditionsPattern": "1 type s string;2 status s string",
  "batch.v1.PodFailurePolicyRule":
    "1 action s string;2 onExitCodes s batch.v1.PodFailurePolicyOnExitCodesRequirement;3 onPodConditions r batch.v1.PodFailurePolicyOnPodConditionsPattern",
  "batch.v1.UncountedTerminatedPods": "1 succeeded r string;2 failed r string",
  "core.v1.AWSElasticBlockStoreVolumeSource":
    "1 volumeID s string;2 fsType s string;3 partition s int32;4 readOnly s bool",
  "core.v1.Affinity":
    "1 nodeAffinity s core.v1.NodeAffinity;2 podAffinity s core.v1.PodAffinity;3 podAntiAffinity s core.v1.PodAntiAffinity",
  "core.v1.AzureDiskVolumeSource":
    "1 diskName s string;2 diskURI s string;3 cachingMode s string;4 fsType s string;5 readOnly s bool;6 kind s string",
  "core.v1.AzureFilePersistentVolumeSource":
    "1 secretName s string;2 shareName s string;3 readOnly s bool;4 secretNamespace s string",
  "core.v1.AzureFileVolumeSource": "1 secretName s string;2 shareName s string;3 readOnly s bool",
  "core.v1.CSIPersistentVolumeSource":
    "1 driver s string;2 volumeHandle s string;3 readOnly s bool;4 fsType s string;5 volumeAttributes m string;6 controllerPublishSecretRef s core.v1.SecretReference;7 nodeStageSecretRef s core.v1.SecretReference;8 nodePublishSecretRef s core.v1.SecretReference;9 controllerExpandSecretRef s core.v1.SecretReference;10 nodeExpandSecretRef s core.v1.SecretReference",
  "core.v1.CSIVolumeSource":
    "1 driver s string;2 readOnly s bool;3 fsType s string;4 volumeAttributes m string;5 nodePublishSecretRef s core.v1.LocalObjectReference",
  "core.v1.Capabilities": "1 add r string;2 drop r string",
  "core.v1.CephFSPersistentVolumeSource":
    "1 monitors r string;2 path s string;3 user s string;4 secretFile s string;5 secretRef s core.v1.SecretReference;6 readOnly s bool",
  "core.v1.CephFSVolumeSource":
    "1 monitors r string;2 path s string;3 user s string;4 secretFile s string;5 secretRef s core.v1.LocalObjectReference;6 readOnly s bool",
  "core.v1.CinderPersistentVolumeSource":
    "1 volumeID s string;2 fsType s string;3 readOnly s bool;4 secretRef s core.v1.SecretReference",
  "core.v1.CinderVolumeSource":
    "1 volumeID s string;2 fsType s string;3 readOnly s bool;4 secretRef s core.v1.LocalObjectReference",
  "core.v1.ClaimSource": "1 resourceClaimName s string;2 resourceClaimTemplateName s string",
  "core.v1.ClientIPConfig": "1 timeoutSeconds s int32",
  "core.v1.ConfigMap": "1 metadata s meta.v1.ObjectMeta;2 data m string;3 binaryData m bytes;4 immutable s bool",
  "core.v1.ConfigMapEnvSource": "1 localObjectReference s core.v1.LocalObjectReference;2 optional s bool",
  "core.v1.ConfigMapKeySelector":
    "1 localObjectReference s core.v1.LocalObjectReference;2 key s string;3 optional s bool",
  "core.v1.ConfigMapProjection":
    "1 localObjectReference s core.v1.LocalObjectReference;2 items r core.v1.KeyToPath;4 optional s bool",
  "core.v1.ConfigMapVolumeSource":
    "1 localObjectReference s core.v1.LocalObjectReference;2 items r core.v1.KeyToPath;3 defaultMode s int32;4 optional s bool",
  "core.v1.Container":
    "1 name s string;2 image s string;3 command r string;4 args r string;5 workingDir s string;6 ports r core.v1.ContainerPort;7 env r core.v1.EnvVar;8 resources s core.v1.ResourceRequirements;9 volumeMounts r core.v1.VolumeMount;10 livenessProbe s core.v1.Probe;11 readinessProbe s core.v1.Probe;12 lifecycle s core.v1.Lifecycle;13 terminationMessagePath s string;14 imagePullPolicy s string;15 securityContext s core.v1.SecurityContext;16 stdin s bool;17 stdinOnce s bool;18 tty s bool;19 envFrom r core.v1.EnvFromSource;20 terminationMessagePolicy s string;21 volumeDevices r core.v1.VolumeDevice;22 startupProbe s core.v1.Probe",
  "core.v1.ContainerPort":
    "1 name s string;2 hostPort s int32;3 containerPort s int32;4 protocol s string;5 hostIP s string",
  "core.v1.ContainerState":
    "1 waiting s core.v1.ContainerStateWaiting;2 running s core.v1.ContainerStateRunning;3 terminated s core.v1.ContainerStateTerminated",
  "core.v1.ContainerStateRunning": "1 startedAt s time",
  "core.v1.ContainerStateTerminated":
    "1 exitCode s int32;2 signal s int32;3 reason s string;4 message s string;5 startedAt s time;6 finishedAt s time;7 containerID s string",
  "core.v1.ContainerStateWaiting": "1 reason s string;2 message s string",
  "core.v1.ContainerStatus":
    "1 name s string;2 state s core.v1.ContainerState;3 lastState s core.v1.ContainerState;4 ready s bool;5 restartCount s int32;6 image s string;7 imageID s string;8 containerID s string;9 started s bool",
  "core.v1.DownwardAPIProjection": "1 items r core.v1.DownwardAPIVolumeFile",
  "core.v1.DownwardAPIVolumeFile":
    "1 path s string;2 fieldRef s core.v1.ObjectFieldSelector;3 resourceFieldRef s core.v1.ResourceFieldSelector;4 mode s int32",
  "core.v1.DownwardAPIVolumeSource": "1 items r core.v1.DownwardAPIVolumeFile;2 defaultMode s int32",
  "core.v1.EmptyDirVolumeSource": "1 medium s string;2 sizeLimit s quantity",
  "core.v1.EndpointAddress":
    "1 ip s string;2 targetRef s core.v1.ObjectReference;3 hostname s string;4 nodeName s string",
  "core.v1.EndpointPort": "1 name s string;2 port s int32;3 protocol s string;4 appProtocol s string",
  "core.v1.EndpointSubset":
    "1 addresses r core.v1.EndpointAddress;2 notReadyAddresses r core.v1.EndpointAddress;3 ports r core.v1.EndpointPort",
  "core.v1.Endpoints": "1 metadata s meta.v1.ObjectMeta;2 subsets r core.v1.EndpointSubset",
  "core.v1.EnvFromSource":
    "1 prefix s string;2 configMapRef s core.v1.ConfigMapEnvSource;3 secretRef s core.v1.SecretEnvSource",
  "core.v1.EnvVar": "1 name s string;2 value s string;3 valueFrom s core.v1.EnvVarSource",
  "core.v1.EnvVarSource":
    "1 fieldRef s core.v1.ObjectFieldSelector;2 resourceFieldRef s core.v1.ResourceFieldSelector;3 configMapKeyRef s core.v1.ConfigMapKeySelector;4 secretKeyRef s core.v1.SecretKeySelector",
  "core.v1.EphemeralContainer":
    "1 ephemeralContainerCommon s core.v1.EphemeralContainerCommon;2 targetContainerName s string",
  "core.v1.EphemeralContainerCommon":
    "1 name s string;2 image s string;3 command r string;4 args r string;5 workingDir s string;6 ports r core.v1.ContainerPort;7 env r core.v1.EnvVar;8 resources s core.v1.ResourceRequirements;9 volumeMounts r core.v1.VolumeMount;10 livenessProbe s core.v1.Probe;11 readinessProbe s core.v1.Probe;12 lifecycle s core.v1.Lifecycle;13 terminationMessagePath s string;14 imagePullPolicy s string;15 securityContext s core.v1.SecurityContext;16 stdin s bool;17 stdinOnce s bool;18 tty s bool;19 envFrom r core.v1.EnvFromSource;20 terminationMessagePolicy s string;21 volumeDevices r core.v1.VolumeDevice;22 startupProbe s core.v1.Probe",
  "core.v1.EphemeralVolumeSource": "1 volumeClaimTemplate s core.v1.PersistentVolumeClaimTemplate",
  "core.v1.Event":
    "1 metadata s meta.v1.ObjectMeta;2 involvedObject s core.v1.ObjectReference;3 reason s string;4 message s string;5 source s core.v1.EventSource;6 firstTimestamp s time;7 lastTimestamp s time;8 count s int32;9 type s string;10 eventTime s time;11 series s core.v1.EventSeries;12 action s string;13 related s core.v1.ObjectReference;14 reportingComponent s string;15 reportingInstance s string",
  "core.v1.EventSeries": "1 count s int32;2 lastObservedTime s time",
  "core.v1.EventSource": "1 component s string;2 host s string",
  "core.v1.ExecAction": "1 command r string",
  "core.v1.FCVolumeSource": "1 targetWWNs r string;2 lun s int32;3 fsType s string;4 readOnly s bool;5 wwids r string",
  "core.v1.FlexPersistentVolumeSource":
    "1 driver s string;2 fsType s string;3 secretRef s core.v1.SecretReference;4 readOnly s bool;5 options m string",
  "core.v1.FlexVolumeSource":
    "1 driver s string;2 fsType s string;3 secretRef s core.v1.LocalObjectReference;4 readOnly s bool;5 options m string",
  "core.v1.FlockerVolumeSource": "1 datasetName s string;2 datasetUUID s string",
  "core.v1.GCEPersistentDiskVolumeSource": "1 pdName s string;2 fsType s string;3 partition s int32;4 readOnly s bool",
  "core.v1.GRPCAction": "1 port s int32;2 service s string",
  "core.v1.GitRepoVolumeSource": "1 repository s string;2 revision s string;3 directory s string",
  "core.v1.GlusterfsPersistentVolumeSource":
    "1 endpoints s string;2 path s string;3 readOnly s bool;4 endpointsNamespace s string",
  "core.v1.GlusterfsVolumeSource": "1 endpoints s string;2 path s string;3 readOnly s bool",
  "core.v1.HTTPGetAction":
    "1 path s string;2 port s intorstring;3 host s string;4 scheme s string;5 httpHeaders r core.v1.HTTPHeader",
  "core.v1.HTTPHeader": "1 name s string;2 value s string",
  "core.v1.HostAlias": "1 ip s string;2 hostnames r string",
  "core.v1.HostPathVolumeSource": "1 path s string;2 type s string",
  "core.v1.ISCSIPersistentVolumeSource":
    "1 targetPortal s string;2 iqn s string;3 lun s int32;4 iscsiInterface s string;5 fsType s string;6 readOnly s bool;7 portals r string;8 chapAuthDiscovery s bool;10 secretRef s core.v1.SecretReference;11 chapAuthSession s bool;12 initiatorName s string",
  "core.v1.ISCSIVolumeSource":
    "1 targetPortal s string;2 iqn s string;3 lun s int32;4 iscsiInterface s string;5 fsType s string;6 readOnly s bool;7 portals r string;8 chapAuthDiscovery s bool;10 secretRef s core.v1.LocalObjectReference;11 chapAuthSession s bool;12 initiatorName s string",
  "core.v1.KeyToPath": "1 key s string;2 path s string;3 mode s int32",
  "core.v1.Lifecycle": "1 postStart s core.v1.LifecycleHandler;2 preStop s core.v1.LifecycleHandler",
  "core.v1.LifecycleHandler":
    "1 exec s core.v1.ExecAction;2 httpGet s core.v1.HTTPGetAction;3 tcpSocket s core.v1.TCPSocketAction",
  "core.v1.LimitRange": "1 metadata s meta.v1.ObjectMeta;2 spec s core.v1.LimitRangeSpec",
  "core.v1.LimitRangeItem":
    "1 type s string;2 max m quantity;3 min m quantity;4 default m quantity;5 defaultRequest m quantity;6 maxLimitRequestRatio m quantity",
  "core.v1.LimitRangeSpec": "1 limits r core.v1.LimitRangeItem",
  "core.v1.LoadBalancerIngress": "1 ip s string;2 hostname s string;4 ports r core.v1.PortStatus",
  "core.v1.LoadBalancerStatus": "1 ingress r core.v1.LoadBalancerIngress",
  "core.v1.LocalObjectReference": "1 name s string",
  "core.v1.LocalVolumeSource": "1 path s string;2 fsType s string",
  "core.v1.NFSVolumeSource": "1 server s string;2 path s string;3 readOnly s bool",
  "core.v1.Namespace":
    "1 metadata s meta.v1.ObjectMeta;2 spec s core.v1.NamespaceSpec;3 status s core.v1.NamespaceStatus",
  "core.v1.NamespaceCondition":
    "1 type s string;2 status s string;4 lastTransitionTime s time;5 reason s string;6 message s string",
  "core.v1.NamespaceSpec": "1 finalizers r string",
  "core.v1.NamespaceStatus": "1 phase s string;2 conditions r core.v1.NamespaceCondition",
  "core.v1.NodeAffinity":
    "1 requiredDuringSchedulingIgnoredDuringExecution s core.v1.NodeSelector;2 preferredDuringSchedulingIgnoredDuringExecution r core.v1.PreferredSchedulingTerm",
  "core.v1.NodeSelector": "1 nodeSelectorTerms r core.v1.NodeSelectorTerm",
  "core.v1.NodeSelectorRequirement": "1 key s string;2 operator s string;3 values r string",
  "core.v1.NodeSelectorTerm":
    "1 matchExpressions r core.v1.NodeSelectorRequirement;2 matchFields r core.v1.NodeSelectorRequirement",
  "core.v1.ObjectFieldSelector": "1 apiVersion s string;2 fieldPath s string",
  "core.v1.ObjectReference":
    "1 kind s string;2 namespace s string;3 name s string;4 uid s string;5 apiVersion s string;6 resourceVersion s string;7 fieldPath s string",
  "core.v1.PersistentVolume":
    "1 metadata s meta.v1.ObjectMeta;2 spec s core.v1.PersistentVolumeSpec;3 status s core.v1.PersistentVolumeStatus",
  "core.v1.PersistentVolumeClaim":
    "1 metadata s meta.v1.ObjectMeta;2 spec s core.v1.PersistentVolumeClaimSpec;3 status s core.v1.PersistentVolumeClaimStatus",
  "core.v1.PersistentVolumeClaimCondition":
    "1 type s string;2 status s string;3 lastProbeTime s time;4 lastTransitionTime s time;5 reason s string;6 message s string",
  "core.v1.PersistentVolumeClaimSpec":
    "1 accessModes r string;2 resources s core.v1.ResourceRequirements;3 volumeName s string;4 selector s meta.v1.LabelSelector;5 storageClassName s string;6 volumeMode s string;7 dataSource s core.v1.TypedLocalObjectReference;8 dataSourceRef s core.v1.TypedObjectReference",
  "core.v1.PersistentVolumeClaimStatus":
    "1 phase s string;2 accessModes r string;3 capacity m quantity;4 conditions r core.v1.PersistentVolumeClaimCondition;5 allocatedResources m quantity;6 resizeStatus s string",
  "core.v1.PersistentVolumeClaimTemplate": "1 metadata s meta.v1.ObjectMeta;2 spec s core.v1.PersistentVolumeClaimSpec",
  "core.v1.PersistentVolumeClaimVolumeSource": "1 claimName s string;2 readOnly s bool",
  "core.v1.PersistentVolumeSource":
    "1 gcePersistentDisk s core.v1.GCEPersistentDiskVolumeSource;2 awsElasticBlockStore s core.v1.AWSElasticBlockStoreVolumeSource;3 hostPath s core.v1.HostPathVolumeSource;4 glusterfs s core.v1.GlusterfsPersistentVolumeSource;5 nfs s core.v1.NFSVolumeSource;6 rbd s core.v1.RBDPersistentVolumeSource;7 iscsi s core.v1.ISCSIPersistentVolumeSource;8 cinder s core.v1.CinderPersistentVolumeSource;9 cephfs s core.v1.CephFSPersistentVolumeSource;10 fc s core.v1.FCVolumeSource;11 flocker s core.v1.FlockerVolumeSource;12 flexVolume s core.v1.FlexPersistentVolumeSource;13 azureFile s core.v1.AzureFilePersistentVolumeSource;14 vsphereVolume s core.v1.VsphereVirtualDiskVolumeSource;15 quobyte s core.v1.QuobyteVolumeSource;16 azureDisk s core.v1.AzureDiskVolumeSource;17 photonPersistentDisk s core.v1.PhotonPersistentDiskVolumeSource;18 portworxVolume s core.v1.PortworxVolumeSource;19 scaleIO s core.v1.ScaleIOPersistentVolumeSource;20 local s core.v1.LocalVolumeSource;21 storageos s core.v1.StorageOSPersistentVolumeSource;22 csi s core.v1.CSIPersistentVolumeSource",
  "core.v1.PersistentVolumeSpec":
    "1 capacity m quantity;2 persistentVolumeSource s core.v1.PersistentVolumeSource;3 accessModes r string;4 claimRef s core.v1.ObjectReference;5 persistentVolumeReclaimPolicy s string;6 storageClassName s string;7 mountOptions r string;8 volumeMode s string;9 nodeAffinity s core.v1.VolumeNodeAffinity",
  "core.v1.PersistentVolumeStatus": "1 phase s string;2 message s string;3 reason s string",
  "core.v1.PhotonPersistentDiskVolumeSource": "1 pdID s string;2 fsType s string",
  "core.v1.Pod": "1 metadata s meta.v1.ObjectMeta;2 spec s core.v1.PodSpec;3 status s core.v1.PodStatus",
  "core.v1.PodAffinity":
    "1 requiredDuringSchedulingIgnoredDuringExecution r core.v1.PodAffinityTerm;2 preferredDuringSchedulingIgnoredDuringExecution r core.v1.WeightedPodAffinityTerm",
  "core.v1.PodAffinityTerm":
    "1 labelSelector s meta.v1.LabelSelector;2 namespaces r string;3 topologyKey s string;4 namespaceSelector s meta.v1.LabelSelector",
  "core.v1.PodAntiAffinity":
    "1 requiredDuringSchedulingIgnoredDuringExecution r core.v1.PodAffinityTerm;2 preferredDuringSchedulingIgnoredDuringExecution r core.v1.WeightedPodAffinityTerm",
  "core.v1.PodCondition":
    "1 type s string;2 status s string;3 lastProbeTime s time;4 lastTransitionTime s time;5 reason s string;6 message s string",
  "core.v1.PodDNSConfig": "1 nameservers r string;2 searches r string;3 options r core.v1.PodDNSConfigOption",
  "core.v1.PodDNSConfigOption": "1 name s string;2 value s string",
  "core.v1.PodIP": "1 ip s string",
  "core.v1.PodOS": "1 name s string",
  "core.v1.PodReadinessGate": "1 conditionType s string",
  "core.v1.PodResourceClaim": "1 name s string;2 source s core.v1.ClaimSource",
  "core.v1.PodSchedulingGate": "1 name s string",
  "core.v1.PodSecurityContext":
    "1 seLinuxOptions s core.v1.SELinuxOptions;2 runAsUser s int64;3 runAsNonRoot s bool;4 supplementalGroups r int64;5 fsGroup s int64;6 runAsGroup s int64;7 sysctls r core.v1.Sysctl;8 windowsOptions s core.v1.WindowsSecurityContextOptions;9 fsGroupChangePolicy s string;10 seccompProfile s core.v1.SeccompProfile",
  "core.v1.PodSpec":
    "1 volumes r core.v1.Volume;2 containers r core.v1.Container;3 restartPolicy s string;4 terminationGracePeriodSeconds s int64;5 activeDeadlineSeconds s int64;6 dnsPolicy s string;7 nodeSelector m string;8 serviceAccountName s string;9 serviceAccount s string;10 nodeName s string;11 hostNetwork s bool;12 hostPID s bool;13 hostIPC s bool;14 securityContext s core.v1.PodSecurityContext;15 imagePullSecrets r core.v1.LocalObjectReference;16 hostname s string;17 subdomain s string;18 affinity s core.v1.Affinity;19 schedulerName s string;20 initContainers r core.v1.Container;21 automountServiceAccountToken s bool;22 tolerations r core.v1.Toleration;23 hostAliases r core.v1.HostAlias;24 priorityClassName s string;25 priority s int32;26 dnsConfig s core.v1.PodDNSConfig;27 shareProcessNamespace s bool;28 readinessGates r core.v1.PodReadinessGate;29 runtimeClassName s string;30 enableServiceLinks s bool;31 preemptionPolicy s string;32 overhead m quantity;33 topologySpreadConstraints r core.v1.TopologySpreadConstraint;34 ephemeralContainers r core.v1.EphemeralContainer;35 setHostnameAsFQDN s bool;36 os s core.v1.PodOS;37 hostUsers s bool;38 schedulingGates r core.v1.PodSchedulingGate;39 resourceClaims r core.v1.PodResourceClaim",
  "core.v1.PodStatus":
    "1 phase s string;2 conditions r core.v1.PodCondition;3 message s string;4 reason s string;5 hostIP s string;6 podIP s string;7 startTime s time;8 containerStatuses r core.v1.ContainerStatus;9 qosClass s string;10 initContainerStatuses r core.v1.ContainerStatus;11 nominatedNodeName s string;12 podIPs r core.v1.PodIP;13 ephemeralContainerStatuses r core.v1.ContainerStatus",
  "core.v1.PodTemplateSpec": "1 metadata s meta.v1.ObjectMeta;2 spec s core.v1.PodSpec",
  "core.v1.PortStatus": "1 port s int32;2 protocol s string;3 error s string",
  "core.v1.PortworxVolumeSource": "1 volumeID s string;2 fsType s string;3 readOnly s bool",
  "core.v1.PreferredSchedulingTerm": "1 weight s int32;2 preference s core.v1.NodeSelectorTerm",
  "core.v1.Probe":
    "1 handler s core.v1.ProbeHandler;2 initialDelaySeconds s int32;3 timeoutSeconds s int32;4 periodSeconds s int32;5 successThreshold s int32;6 failureThreshold s int32;7 terminationGracePeriodSeconds s int64",
  "core.v1.ProbeHandler":
    "1 exec s core.v1.ExecAction;2 httpGet s core.v1.HTTPGetAction;3 tcpSocket s core.v1.TCPSocketAction;4 grpc s core.v1.GRPCAction",
  "core.v1.ProjectedVolumeSource": "1 sources r core.v1.VolumeProjection;2 defaultMode s int32",
  "core.v1.QuobyteVolumeSource":
    "1 registry s string;2 volume s string;3 readOnly s bool;4 user s string;5 group s string;6 tenant s string",
  "core.v1.RBDPersistentVolumeSource":
    "1 monitors r string;2 image s string;3 fsType s string;4 pool s string;5 user s string;6 keyring s string;7 secretRef s core.v1.SecretReference;8 readOnly s bool",
  "core.v1.RBDVolumeSource":
    "1 monitors r string;2 image s string;3 fsType s string;4 pool s string;5 user s string;6 keyring s string;7 secretRef s core.v1.LocalObjectReference;8 readOnly s bool",
  "core.v1.ResourceClaim": "1 name s string",
  "core.v1.ResourceFieldSelector": "1 containerName s string;2 resource s string;3 divisor s quantity",
  "core.v1.ResourceQuota":
    "1 metadata s meta.v1.ObjectMeta;2 spec s core.v1.ResourceQuotaSpec;3 status s core.v1.ResourceQuotaStatus",
  "core.v1.ResourceQuotaSpec": "1 hard m quantity;2 scopes r string;3 scopeSelector s core.v1.ScopeSelector",
  "core.v1.ResourceQuotaStatus": "1 hard m quantity;2 used m quantity",
  "core.v1.ResourceRequirements": "1 limits m quantity;2 requests m quantity;3 claims r core.v1.ResourceClaim",
  "core.v1.SELinuxOptions": "1 user s string;2 role s string;3 type s string;4 level s string",
  "core.v1.ScaleIOPersistentVolumeSource":
    "1 gateway s string;2 system s string;3 secretRef s core.v1.SecretReference;4 sslEnabled s bool;5 protectionDomain s string;6 storagePool s string;7 storageMode s string;8 volumeName s string;9 fsType s string;10 readOnly s bool",
  "core.v1.ScaleIOVolumeSource":
    "1 gateway s string;2 system s string;3 secretRef s core.v1.LocalObjectReference;4 sslEnabled s bool;5 protectionDomain s string;6 storagePool s string;7 storageMode s string;8 volumeName s string;9 fsType s string;10 readOnly s bool",
  "core.v1.ScopeSelector": "1 matchExpressions r core.v1.ScopedResourceSelectorRequirement",
  "core.v1.ScopedResourceSelectorRequirement": "1 scopeName s string;2 operator s string;3 values r string",
  "core.v1.SeccompProfile": "1 type s string;2 localhostProfile s string",
  "core.v1.Secret":
    "1 metadata s meta.v1.ObjectMeta;2 data m bytes;3 type s string;4 stringData m string;5 immutable s bool",
  "core.v1.SecretEnvSource": "1 localObjectReference s core.v1.LocalObjectReference;2 optional s bool",
  "core.v1.SecretKeySelector": "1 localObjectReference s core.v1.LocalObjectReference;2 key s string;3 optional s bool",
  "core.v1.SecretProjection":
    "1 localObjectReference s core.v1.LocalObjectReference;2 items r core.v1.KeyToPath;4 optional s bool",
  "core.v1.SecretReference": "1 name s string;2 namespace s string",
  "core.v1.SecretVolumeSource":
    "1 secretName s string;2 items r core.v1.KeyToPath;3 defaultMode s int32;4 optional s bool",
  "core.v1.SecurityContext":
    "1 capabilities s core.v1.Capabilities;2 privileged s bool;3 seLinuxOptions s core.v1.SELinuxOptions;4 runAsUser s int64;5 runAsNonRoot s bool;6 readOnlyRootFilesystem s bool;7 allowPrivilegeEscalation s bool;8 runAsGroup s int64;9 procMount s string;10 windowsOptions s core.v1.WindowsSecurityContextOptions;11 seccompProfile s core.v1.SeccompProfile",
  "core.v1.Service": "1 metadata s meta.v1.ObjectMeta;2 spec s core.v1.ServiceSpec;3 status s core.v1.ServiceStatus",
  "core.v1.ServiceAccount":
    "1 metadata s meta.v1.ObjectMeta;2 secrets r core.v1.ObjectReference;3 imagePullSecrets r core.v1.LocalObjectReference;4 automountServiceAccountToken s bool",
  "core.v1.ServiceAccountTokenProjection": "1 audience s string;2 expirationSeconds s int64;3 path s string",
  "core.v1.ServicePort":
    "1 name s string;2 protocol s string;3 port s int32;4 targetPort s intorstring;5 nodePort s int32;6 appProtocol s string",
  "core.v1.ServiceSpec":
    "1 ports r core.v1.ServicePort;2 selector m string;3 clusterIP s string;4 type s string;5 externalIPs r string;7 sessionAffinity s string;8 loadBalancerIP s string;9 loadBalancerSourceRanges r string;10 externalName s string;11 externalTrafficPolicy s string;12 healthCheckNodePort s int32;13 publishNotReadyAddresses s bool;14 sessionAffinityConfig s core.v1.SessionAffinityConfig;17 ipFamilyPolicy s string;18 clusterIPs r string;19 ipFamilies r string;20 allocateLoadBalancerNodePorts s bool;21 loadBalancerClass s string;22 internalTrafficPolicy s string",
  "core.v1.ServiceStatus": "1 loadBalancer s core.v1.LoadBalancerStatus;2 conditions r meta.v1.Condition",
  "core.v1.SessionAffinityConfig": "1 clientIP s core.v1.ClientIPConfig",
  "core.v1.StorageOSPersistentVolumeSource":
    "1 volumeName s string;2 volumeNamespace s string;3 fsType s string;4 readOnly s bool;5 secretRef s core.v1.ObjectReference",
  "core.v1.StorageOSVolumeSource":
    "1 volumeName s string;2 volumeNamespace s string;3 fsType s string;4 readOnly s bool;5 secretRef s core.v1.LocalObjectReference",
  "core.v1.Sysctl": "1 name s string;2 value s string",
  "core.v1.TCPSocketAction": "1 port s intorstring;2 host s string",
  "core.v1.Toleration":
    "1 key s string;2 operator s string;3 value s string;4 effect s string;5 tolerationSeconds s int64",
  "core.v1.TopologySpreadConstraint":
    "1 maxSkew s int32;2 topologyKey s string;3 whenUnsatisfiable s string;4 labelSelector s meta.v1.LabelSelector;5 minDomains s int32;6 nodeAffinityPolicy s string;7 nodeTaintsPolicy s string;8 matchLabelKeys r string",
  "core.v1.TypedLocalObjectReference": "1 apiGroup s string;2 kind s string;3 name s string",
  "core.v1.TypedObjectReference": "1 apiGroup s string;2 kind s string;3 name s string;4 namespace s string",
  "core.v1.Volume": "1 name s string;2 volumeSource s core.v1.VolumeSource",
  "core.v1.VolumeDevice": "1 name s string;2 devicePath s string",
  "core.v1.VolumeMount":
    "1 name s string;2 readOnly s bool;3 mountPath s string;4 subPath s string;5 mountPropagation s string;6 subPathExpr s string",
  "core.v1.VolumeNodeAffinity": "1 required s core.v1.NodeSelector",
  "core.v1.VolumeProjection":
    "1 secret s core.v1.SecretProjection;2 downwardAPI s core.v1.DownwardAPIProjection;3 configMap s core.v1.ConfigMapProjection;4 serviceAccountToken s core.v1.ServiceAccountTokenProjection",
  "core.v1.VolumeSource":
    "1 hostPath s core.v1.HostPathVolumeSource;2 emptyDir s core.v1.EmptyDirVolumeSource;3 gcePersistentDisk s core.v1.GCEPersistentDiskVolumeSource;4 awsElasticBlockStore s core.v1.AWSElasticBlockStoreVolumeSource;5 gitRepo s core.v1.GitRepoVolumeSource;6 secret s core.v1.SecretVolumeSource;7 nfs s core.v1.NFSVolumeSource;8 iscsi s core.v1.ISCSIVolumeSource;9 glusterfs s core.v1.GlusterfsVolumeSource;10 persistentVolumeClaim s core.v1.PersistentVolumeClaimVolumeSource;11 rbd s core.v1.RBDVolumeSource;12 flexVolume s core.v1.FlexVolumeSource;13 cinder s core.v1.CinderVolumeSource;14 cephfs s core.v1.CephFSVolumeSource;15 flocker s core.v1.FlockerVolumeSource;16 downwardAPI s core.v1.DownwardAPIVolumeSource;17 fc s core.v1.FCVolumeSource;18 azureFile s core.v1.AzureFileVolumeSource;19 configMap s core.v1.ConfigMapVolumeSource;20 vsphereVolume s core.v1.VsphereVirtualDiskVolumeSource;21 quobyte s core.v1.QuobyteVolumeSource;22 azureDisk s core.v1.AzureDiskVolumeSource;23 photonPersistentDisk s core.v1.PhotonPersistentDiskVolumeSource;24 portworxVolume s core.v1.PortworxVolumeSource;25 scaleIO s core.v1.ScaleIOVolumeSource;26 projected s core.v1.ProjectedVolumeSource;27 storageos s core.v1.StorageOSVolumeSource;28 csi s core.v1.CSIVolumeSource;29 ephemeral s core.v1.EphemeralVolumeSource",
  "core.v1.VsphereVirtualDiskVolumeSource":
    "1 volumePath s string;2 fsType s string;3 storagePolicyName s string;4 storagePolicyID s string",
  "core.v1.WeightedPodAffinityTerm": "1 weight s int32;2 podAffinityTerm s core.v1.PodAffinityTerm",
  "core.v1.WindowsSecurityContextOptions":
    "1 gmsaCredentialSpecName s string;2 gmsaCredentialSpec s string;3 runAsUserName s string;4 hostProcess s bool",
  "networking.v1.HTTPIngressPath": "1 path s string;2 backend s networking.v1.IngressBackend;3 pathType s string",
  "networking.v1.HTTPIngressRuleValue": "1 paths r networking.v1.HTTPIngressPath",
  "networking.v1.Ingress":
    "1 metadata s meta.v1.ObjectMeta;2 spec s networking.v1.IngressSpec;3 status s networking.v1.IngressStatus",
  "networking.v1.IngressBackend":
    "3 resource s core.v1.TypedLocalObjectReference;4 service s networking.v1.IngressServiceBackend",
  "networking.v1.IngressLoadBalancerIngress":
    "1 ip s string;2 hostname s string;4 ports r networking.v1.IngressPortStatus",
  "networking.v1.IngressLoadBalancerStatus": "1 ingress r networking.v1.IngressLoadBalancerIngress",
  "networking.v1.IngressPortStatus": "1 port s int32;2 protocol s string;3 error s string",
  "networking.v1.IngressRule": "1 host s string;2 ingressRuleValue s networking.v1.IngressRuleValue",
  "networking.v1.IngressRuleValue": "1 http s networking.v1.HTTPIngressRuleValue",
  "networking.v1.IngressServiceBackend": "1 name s string;2 port s networking.v1.ServiceBackendPort",
  "networking.v1.IngressSpec":
    "1 defaultBackend s networking.v1.IngressBackend;2 tls r networking.v1.IngressTLS;3 rules r networking.v1.IngressRule;4 ingressClassName s string",
  "networking.v1.IngressStatus": "1 loadBalancer s networking.v1.IngressLoadBalancerStatus",
  "networking.v1.IngressTLS": "1 hosts r string;2 secretName s string",
  "networking.v1.ServiceBackendPort": "1 name s string;2 number s int32",
  "meta.v1.Condition":
    "1 type s string;2 status s string;3 observedGeneration s int64;4 lastTransitionTime s time;5 reason s string;6 message s string",
  "meta.v1.LabelSelector": "1 matchLabels m string;2 matchExpressions r meta.v1.LabelSelectorRequirement",
  "meta.v1.LabelSelectorRequirement": "1 key s string;2 operator s string;3 values r string",
  "meta.v1.ManagedFieldsEntry":
    "1 manager s string;2 operation s string;3 apiVersion s string;4 time s time;6 fieldsType s string;7 fieldsV1 s raw;8 subresource s string",
  "meta.v1.ObjectMeta":
    "1 name s string;2 generateName s string;3 namespace s string;4 selfLink s string;5 uid s string;6 resourceVersion s string;7 generation s int64;8 creationTimestamp s time;9 deletionTimestamp s time;10 deletionGracePeriodSeconds s int64;11 labels m string;12 annotations m string;13 ownerReferences r meta.v1.OwnerReference;14 finalizers r string;17 managedFields r meta.v1.ManagedFieldsEntry",
  "meta.v1.OwnerReference":
    "1 kind s string;3 name s string;4 uid s string;5 apiVersion s string;6 controller s bool;7 blockOwnerDeletion s bool",
  "authentication.v1.BoundObjectReference": "1 kind s string;2 apiVersion s string;3 name s string;4 uid s string",
  "authentication.v1.SelfSubjectReview": "1 metadata s meta.v1.ObjectMeta",
  "authentication.v1.TokenRequest":
    "1 metadata s meta.v1.ObjectMeta;2 spec s authentication.v1.TokenRequestSpec;3 status s authentication.v1.TokenRequestStatus",
  "authentication.v1.TokenRequestSpec":
    "1 audiences r string;3 boundObjectRef s authentication.v1.BoundObjectReference;4 expirationSeconds s int64",
  "authentication.v1.TokenRequestStatus": "1 token s string;2 expirationTimestamp s time",
  "authorization.v1.NonResourceAttributes": "1 path s string;2 verb s string",
  "authorization.v1.ResourceAttributes":
    "1 namespace s string;2 verb s string;3 group s string;4 version s string;5 resource s string;6 subresource s string;7 name s string",
  "authorization.v1.SelfSubjectAccessReview":
    "1 metadata s meta.v1.ObjectMeta;2 spec s authorization.v1.SelfSubjectAccessReviewSpec",
  "authorization.v1.SelfSubjectAccessReviewSpec":
    "1 resourceAttributes s authorization.v1.ResourceAttributes;2 nonResourceAttributes s authorization.v1.NonResourceAttributes",
  "authorization.v1.SelfSubjectRulesReview":
    "1 metadata s meta.v1.ObjectMeta;2 spec s authorization.v1.SelfSubjectRulesReviewSpec",
  "authorization.v1.SelfSubjectRulesReviewSpec": "1 namespace s string",
  "rbac.authorization.v1.AggregationRule": "1 clusterRoleSelectors r meta.v1.LabelSelector",
  "rbac.authorization.v1.ClusterRole":
    "1 metadata s meta.v1.ObjectMeta;2 rules r rbac.authorization.v1.PolicyRule;3 aggregationRule s rbac.authorization.v1.AggregationRule",
  "rbac.authorization.v1.ClusterRoleBinding":
    "1 metadata s meta.v1.ObjectMeta;2 subjects r rbac.authorization.v1.Subject;3 roleRef s rbac.authorization.v1.RoleRef",
  "rbac.authorization.v1.PolicyRule":
    "1 verbs r string;2 apiGroups r string;3 resources r string;4 resourceNames r string;5 nonResourceURLs r string",
  "rbac.authorization.v1.Role": "1 metadata s meta.v1.ObjectMeta;2 rules r rbac.authorization.v1.PolicyRule",
  "rbac.authorization.v1.RoleBinding":
    "1 metadata s meta.v1.ObjectMeta;2 subjects r rbac.authorization.v1.Subject;3 roleRef s rbac.authorization.v1.RoleRef",
  "rbac.authorization.v1.RoleRef": "1 apiGroup s string;2 kind s string;3 name s string",
  "rbac.authorization.v1.Subject": "1 kind s string;2 apiGroup s string;3 name s string;4 namespace s string",
};
