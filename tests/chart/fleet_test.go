// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package chart

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/phoenix-platform/otelcol-phoenix/internal/testcert"
	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// fleetRelease is the controller's release beside the agents' "phoenix": where their default endpoint looks.
const fleetRelease = "phoenix-fleet"

// checkFleet: presets.fleet makes the release's one Deployment pod the controller (phoenix_fleet behind the
// token, its rollouts on the fleet volume, port opamp on the Service); presets.control.opamp makes every
// node an OpAMP agent sending the token.
func checkFleet(t *testing.T, r rendered, v values, cfg relay) {
	t.Helper()
	tmpl, _ := r.pod(t)
	c := collector(t, tmpl.Spec)
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	f := v.Presets.Fleet
	assert.Equal(t, f.Enabled, cfg.Extensions["phoenix_fleet"] != nil, "phoenix_fleet iff presets.fleet")
	assert.Equal(t, f.Enabled, slices.Contains(cfg.Service.Extensions, "phoenix_fleet"), "and in service.extensions")
	assert.Equal(t, f.Enabled, slices.Contains(portNames(c), "opamp"), "the opamp container port iff presets.fleet")
	wantClaim := f.Enabled && f.Persistence.Enabled && f.Persistence.ExistingClaim == ""
	assert.Equal(t, wantClaim, len(r.claims) == 1, "a PersistentVolumeClaim iff fleet persistence without an existing claim")
	if f.Enabled {
		require.NotNil(t, r.deployment, "the controller is a Deployment")
		assert.Equal(t, int32(1), *r.deployment.Spec.Replicas, "one controller")
		assert.Equal(t, appsv1.RecreateDeploymentStrategyType, r.deployment.Spec.Strategy.Type, "never two controllers at once")
		assert.Nil(t, r.deployment.Spec.Strategy.RollingUpdate)
		port := containerPort(c, "opamp").ContainerPort
		assert.Equal(t, f.Port, port)
		fl := cfg.Extensions["phoenix_fleet"]
		assert.Equal(t, fmt.Sprintf("0.0.0.0:%d", port), fl["endpoint"], "every pod interface: the Service and port-forward reach it")
		assert.Equal(t, map[string]any{"authenticator": "bearertokenauth/fleet"}, fl["auth"])
		assert.Equal(t, "${env:PHOENIX_FLEET_TOKEN}", cfg.Extensions["bearertokenauth/fleet"]["token"])
		assert.Equal(t, "file_storage/fleet", fl["storage"])
		assert.Equal(t, f.ReportInterval, fl["report_interval"])
		assert.EqualValues(t, f.MaxAgents, fl["max_agents"])
		for _, ext := range []string{"bearertokenauth/fleet", "file_storage/fleet"} {
			assert.Contains(t, cfg.Service.Extensions, ext)
		}
		dir, _ := cfg.Extensions["file_storage/fleet"]["directory"].(string)
		assert.Equal(t, "fleet", mounts[dir], "the rollouts are kept on the fleet volume")

		svc := r.services[r.fullname()]
		require.NotNil(t, svc, "the agents connect through the Service")
		sp := servicePort(svc, "opamp")
		assert.Equal(t, port, sp.Port)
		assert.Equal(t, "opamp", sp.TargetPort.String())

		vol := volume(t, tmpl.Spec, "fleet")
		if f.Persistence.Enabled {
			require.NotNil(t, vol.PersistentVolumeClaim, "the rollouts survive the pod")
			if f.Persistence.ExistingClaim != "" {
				assert.Equal(t, f.Persistence.ExistingClaim, vol.PersistentVolumeClaim.ClaimName)
			} else {
				claim := r.claims[vol.PersistentVolumeClaim.ClaimName]
				require.NotNil(t, claim, "the chart's claim")
				assert.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, claim.Spec.AccessModes)
				assert.True(t, resource.MustParse(f.Persistence.Size).Equal(claim.Spec.Resources.Requests[corev1.ResourceStorage]))
				if f.Persistence.StorageClass != "" {
					require.NotNil(t, claim.Spec.StorageClassName)
					assert.Equal(t, f.Persistence.StorageClass, *claim.Spec.StorageClassName)
				} else {
					assert.Nil(t, claim.Spec.StorageClassName, "the cluster's default StorageClass")
				}
			}
		} else {
			assert.NotNil(t, vol.EmptyDir)
		}
		checkFleetToken(t, r, c, f.Token)
		checkFleetTLS(t, r, v, fl)
	}

	o := v.Presets.Control.OpAMP
	opamp, _ := cfg.Extensions["phoenix_control"]["opamp"].(map[string]any)
	assert.Equal(t, v.Presets.Control.Enabled && o.Enabled, opamp != nil, "phoenix_control's opamp block iff presets.control.opamp")
	if opamp != nil {
		want := o.Endpoint
		if want == "" {
			want = "ws://" + fleetRelease + "-otelcol-phoenix." + namespace + ".svc:4320/v1/opamp"
			if o.TLS.CASecret != "" || len(o.TLS.ClientCertificate) > 0 {
				want = "wss" + strings.TrimPrefix(want, "ws")
			}
		}
		assert.Equal(t, want, opamp["endpoint"], "the controller release's Service by default")
		checkAgentTLS(t, r, v, opamp)
		assert.Equal(t, map[string]any{"Authorization": "Bearer ${env:PHOENIX_FLEET_TOKEN}"}, opamp["headers"])
		assert.Equal(t, o.ReportInterval, opamp["report_interval"])
		checkFleetToken(t, r, c, o.Token)
	}
	assert.Equal(t, f.Enabled || opamp != nil, envFrom(c, "PHOENIX_FLEET_TOKEN") != nil, "the fleet token only where it is used")
}

// checkFleetTLS: presets.fleet.tls serves the controller's ports with the Secret's certificate, mounted
// whole from that Secret; nodeIdentity: certificate asks agents for certificates of the Secret's CA; apiPort
// moves the API to a port of its own (container and Service port api), with the token and no client
// certificate.
func checkFleetTLS(t *testing.T, r rendered, v values, fl map[string]any) {
	t.Helper()
	f := v.Presets.Fleet
	tmpl, _ := r.pod(t)
	files := mountedFiles(t, tmpl.Spec)
	tlsCfg, _ := fl["tls"].(map[string]any)
	assert.Equal(t, f.TLS.SecretName != "", tlsCfg != nil, "TLS iff presets.fleet.tls.secretName")
	for key, want := range map[string]string{"cert_file": "tls.crt", "key_file": "tls.key", "client_ca_file": "ca.crt"} {
		path, ok := tlsCfg[key].(string)
		if key == "client_ca_file" && f.TLS.NodeIdentity != "certificate" {
			assert.False(t, ok, "no client CA without nodeIdentity: certificate")
			continue
		}
		if tlsCfg == nil {
			continue
		}
		assert.Equal(t, mountedFile{volume: "fleet-tls", secret: f.TLS.SecretName, key: want}, files[path], "%s %s", key, path)
	}
	if tlsCfg != nil {
		assert.Equal(t, "5m", tlsCfg["reload_interval"], "a renewed certificate is read again")
		assert.Equal(t, f.TLS.NodeIdentity == "certificate", tlsCfg["client_ca_file_reload"] == true, "and a renewed CA")
		for _, name := range []string{"opamp", "api"} {
			if sp := servicePort(r.services[r.fullname()], name); sp.Name != "" {
				require.NotNil(t, sp.AppProtocol)
				assert.Equal(t, "https", *sp.AppProtocol, "the Service says %s is TLS (meshes and load balancers read it)", name)
			}
		}
	}
	if f.TLS.NodeIdentity == "certificate" {
		assert.Equal(t, "certificate", fl["node_identity"])
	} else {
		assert.Nil(t, fl["node_identity"])
	}
	api, _ := fl["api"].(map[string]any)
	c := collector(t, tmpl.Spec)
	assert.Equal(t, f.APIPort != 0, api != nil, "api: iff presets.fleet.apiPort")
	assert.Equal(t, f.APIPort != 0, slices.Contains(portNames(c), "api"), "the api container port iff apiPort")
	if api == nil {
		return
	}
	assert.Equal(t, fmt.Sprintf("0.0.0.0:%d", f.APIPort), api["endpoint"])
	assert.Equal(t, f.APIPort, containerPort(c, "api").ContainerPort)
	assert.Equal(t, map[string]any{"authenticator": "bearertokenauth/fleet"}, api["auth"], "the operators' token")
	sp := servicePort(r.services[r.fullname()], "api")
	assert.Equal(t, f.APIPort, sp.Port)
	assert.Equal(t, "api", sp.TargetPort.String())
	if apiTLS, _ := api["tls"].(map[string]any); f.TLS.SecretName != "" {
		require.NotNil(t, apiTLS, "the API is served over TLS too")
		assert.Equal(t, tlsCfg["cert_file"], apiTLS["cert_file"])
		assert.Equal(t, tlsCfg["key_file"], apiTLS["key_file"])
		assert.Nil(t, apiTLS["client_ca_file"], "no node certificate asked of the operators")
		assert.Equal(t, "5m", apiTLS["reload_interval"])
	} else {
		assert.Nil(t, apiTLS)
	}
}

// checkAgentTLS: the agents trust the CA of presets.control.opamp.tls.caSecret (its caKey, mounted from it)
// and present the node's certificate from the clientCertificate volume.
func checkAgentTLS(t *testing.T, r rendered, v values, opamp map[string]any) {
	t.Helper()
	o := v.Presets.Control.OpAMP.TLS
	tmpl, _ := r.pod(t)
	files := mountedFiles(t, tmpl.Spec)
	tlsCfg, _ := opamp["tls"].(map[string]any)
	assert.Equal(t, o.CASecret != "" || len(o.ClientCertificate) > 0, tlsCfg != nil, "a tls block iff presets.control.opamp.tls")
	if tlsCfg != nil {
		assert.Equal(t, "5m", tlsCfg["reload_interval"], "a renewed node certificate or CA is read again")
	}
	if o.CASecret != "" {
		assert.Equal(t, mountedFile{volume: "opamp-ca", secret: o.CASecret, key: o.CAKey}, files[tlsCfg["ca_file"].(string)])
	} else {
		assert.Nil(t, tlsCfg["ca_file"], "the system roots")
	}
	if len(o.ClientCertificate) == 0 {
		assert.Nil(t, tlsCfg["cert_file"])
		return
	}
	for key, want := range map[string]string{"cert_file": "tls.crt", "key_file": "tls.key"} {
		path, _ := tlsCfg[key].(string)
		assert.Equal(t, mountedFile{volume: "opamp-client", key: want}, files[path], "%s %s", key, path)
	}
	vol, err := json.Marshal(volume(t, tmpl.Spec, "opamp-client").VolumeSource)
	require.NoError(t, err)
	want, err := json.Marshal(o.ClientCertificate)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(vol), "the volume source as given")
}

// TestFleetTLSSettingsOff: the fleet's TLS settings are checked only with presets.fleet and the agents' only
// with presets.control.opamp; an unset (null) caKey is ca.crt, in the config and the Secret volume alike.
func TestFleetTLSSettingsOff(t *testing.T) {
	out, err := helm(t, "template", "phoenix", chartDir(t), "--set", "presets.fleet.tls.nodeIdentity=certificate",
		"--set", "presets.control.opamp.tls.caSecret=ca", "--set", "presets.control.opamp.endpoint=ws://a:1/v1/opamp")
	require.NoError(t, err, out)
	r := decode(t, render(t, "-f", ciFile(t, "fleet-agents-mtls"), "--set", "presets.control.opamp.tls.caKey=null"))
	tlsCfg, _ := opampOf(t, r)["tls"].(map[string]any)
	pod, _ := r.pod(t)
	assert.Equal(t, mountedFile{volume: "opamp-ca", secret: "phoenix-fleet-ca", key: "ca.crt"}, mountedFiles(t, pod.Spec)[tlsCfg["ca_file"].(string)])
}

// mountFiles does what kubelet does for the named volumes: writes their files (name → source path) into a
// directory and points the config's paths under each volume's mount path at it, so the binary reads the
// files at the very paths the pod mounts them.
func mountFiles(t *testing.T, spec corev1.PodSpec, cfg string, volumes map[string]map[string]string) string {
	t.Helper()
	for _, m := range collector(t, spec).VolumeMounts {
		files, ok := volumes[m.Name]
		if !ok {
			continue
		}
		delete(volumes, m.Name)
		dir := t.TempDir()
		for name, src := range files {
			data, err := os.ReadFile(src)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
		}
		require.Contains(t, cfg, m.MountPath+"/", "the config reads volume %s", m.Name)
		cfg = strings.ReplaceAll(cfg, m.MountPath+"/", dir+"/")
	}
	require.Empty(t, volumes, "volumes the collector does not mount")
	return cfg
}

// mountedFile is where a path in the collector's container comes from: a volume, the Secret it is made
// of (if any) and the file's name in it.
type mountedFile struct{ volume, secret, key string }

// mountedFiles resolves the files of the collector's read-only volume mounts, by the path the config names.
// A Secret volume listing items has those paths only; a whole volume has any name under its mount.
func mountedFiles(t *testing.T, spec corev1.PodSpec) map[string]mountedFile {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	out := map[string]mountedFile{}
	for _, m := range collector(t, spec).VolumeMounts {
		v := volumes[m.Name]
		if !m.ReadOnly || m.SubPath != "" {
			continue
		}
		switch {
		case v.Secret != nil && len(v.Secret.Items) > 0:
			for _, it := range v.Secret.Items {
				out[m.MountPath+"/"+it.Path] = mountedFile{volume: m.Name, secret: v.Secret.SecretName, key: it.Key}
			}
		case v.Secret != nil:
			for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
				out[m.MountPath+"/"+key] = mountedFile{volume: m.Name, secret: v.Secret.SecretName, key: key}
			}
		default:
			for _, key := range []string{"tls.crt", "tls.key"} {
				out[m.MountPath+"/"+key] = mountedFile{volume: m.Name, key: key}
			}
		}
	}
	return out
}

// checkFleetToken: PHOENIX_FLEET_TOKEN comes from the user's Secret, or the one the chart makes of the value.
func checkFleetToken(t *testing.T, r rendered, c corev1.Container, token tokenValues) {
	t.Helper()
	ref := envFrom(c, "PHOENIX_FLEET_TOKEN")
	require.NotNil(t, ref, "the fleet token comes from a Secret")
	assert.Equal(t, token.Key, ref.Key)
	if token.ExistingSecret != "" {
		assert.Equal(t, token.ExistingSecret, ref.Name)
		assert.NotContains(t, r.secrets, ref.Name, "a Secret of the user's is not rendered")
		return
	}
	require.Contains(t, r.secrets, ref.Name)
	assert.Equal(t, token.Value, string(r.secrets[ref.Name].Data[token.Key]))
}

func volume(t *testing.T, spec corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %s", name)
	return corev1.Volume{}
}

// opampOf is the agents' OpAMP block, as rendered.
func opampOf(t *testing.T, r rendered) map[string]any {
	t.Helper()
	opamp, ok := decodeRelay(t, r).Extensions["phoenix_control"]["opamp"].(map[string]any)
	require.True(t, ok, "phoenix_control has an opamp block")
	return opamp
}

// TestFleetAgentsFindTheController: the agents' release (phoenix) and the controller's (phoenix-fleet), each
// with its ci values, meet: the default endpoint is the controller's Service, in the namespace, on the port
// named opamp that targets the controller's listening port, at /v1/opamp; the agents send the token of the
// Secret the controller reads; both sides agree on the report interval.
func TestFleetAgentsFindTheController(t *testing.T) {
	controller := decode(t, renderAs(t, fleetRelease, "-f", ciFile(t, "fleet")))
	agents := decode(t, render(t, "-f", ciFile(t, "fleet-agents")))
	require.NotNil(t, agents.daemonSet, "the agents: one per node")
	opamp := opampOf(t, agents)

	u, err := url.Parse(opamp["endpoint"].(string))
	require.NoError(t, err)
	assert.Equal(t, "ws", u.Scheme)
	assert.Equal(t, "/v1/opamp", u.Path, "phoenix_fleet serves OpAMP there")
	host, port, err := net.SplitHostPort(u.Host)
	require.NoError(t, err)
	name, domain, _ := strings.Cut(host, ".")
	assert.Equal(t, namespace+".svc", domain, "the Service's namespace")

	svc := controller.services[name]
	require.NotNil(t, svc, "the endpoint's host is the controller's Service (%s); the controller has %v", name, slices.Sorted(maps.Keys(controller.services)))
	assert.Equal(t, namespace, svc.Namespace)
	sp := servicePort(svc, "opamp")
	assert.Equal(t, port, strconv.Itoa(int(sp.Port)), "the endpoint's port is the Service's opamp port")
	tmpl, _ := controller.pod(t)
	assert.Equal(t, svc.Spec.Selector, controller.deployment.Spec.Selector.MatchLabels, "the Service selects the controller")
	c := collector(t, tmpl.Spec)
	target := containerPort(c, sp.TargetPort.String())
	require.NotZero(t, target.ContainerPort, "the Service's target port %s is a container port", sp.TargetPort.String())
	fleetCfg := decodeRelay(t, controller).Extensions["phoenix_fleet"]
	assert.Equal(t, fmt.Sprintf("0.0.0.0:%d", target.ContainerPort), fleetCfg["endpoint"], "phoenix_fleet listens on it")

	agentRef := envFrom(collector(t, func() corev1.PodSpec { p, _ := agents.pod(t); return p.Spec }()), "PHOENIX_FLEET_TOKEN")
	controllerRef := envFrom(c, "PHOENIX_FLEET_TOKEN")
	require.NotNil(t, agentRef)
	require.NotNil(t, controllerRef)
	assert.Equal(t, *controllerRef, *agentRef, "the agents read the controller's token from the same Secret and key")
	require.Contains(t, controller.secrets, agentRef.Name, "the controller release makes that Secret")
	assert.NotEmpty(t, controller.secrets[agentRef.Name].Data[agentRef.Key])
	assert.Equal(t, fleetCfg["report_interval"], opamp["report_interval"], "the controller expects the agents' interval")

	// Another controller release, or one elsewhere: the endpoint is set.
	other := decode(t, render(t, "-f", ciFile(t, "fleet-agents"), "--set", "presets.control.opamp.endpoint=wss://fleet.example:4320/v1/opamp"))
	assert.Equal(t, "wss://fleet.example:4320/v1/opamp", opampOf(t, other)["endpoint"])
	// nameOverride is the pattern's too (the controller release gets the same values).
	renamed := decode(t, render(t, "-f", ciFile(t, "fleet-agents"), "--set", "nameOverride=phx"))
	assert.Equal(t, "ws://phoenix-fleet-phx.observability.svc:4320/v1/opamp", opampOf(t, renamed)["endpoint"])
}

// TestFleetStorageAndNotes: without persistence the rollouts live in an emptyDir and NOTES warns; an
// existing claim is mounted and none made; NOTES tells where the agents connect and how to reach the API.
func TestFleetStorageAndNotes(t *testing.T) {
	ci := ciFile(t, "fleet")
	r := decode(t, renderAs(t, fleetRelease, "-f", ci, "--set", "presets.fleet.persistence.enabled=false"))
	tmpl, _ := r.pod(t)
	assert.NotNil(t, volume(t, tmpl.Spec, "fleet").EmptyDir)
	assert.Empty(t, r.claims)
	out := notes(t, fleetRelease, "-f", ci, "--set", "presets.fleet.persistence.enabled=false")
	assert.Contains(t, out, "[WARNING] presets.fleet.persistence is off")
	assert.Contains(t, out, "Agents connect to ws://phoenix-fleet-otelcol-phoenix.observability.svc:4320/v1/opamp")
	assert.Contains(t, out, "the default of presets.control.opamp.endpoint in a release named phoenix in observability")
	assert.Contains(t, out, "port-forward svc/phoenix-fleet-otelcol-phoenix 4320")
	assert.NotContains(t, notes(t, fleetRelease, "-f", ci), "[WARNING]")
	assert.Contains(t, notes(t, "controller", "-f", ci), "set the agents' presets.control.opamp.endpoint to it")

	r = decode(t, renderAs(t, fleetRelease, "-f", ci, "--set", "presets.fleet.persistence.existingClaim=rollouts"))
	tmpl, _ = r.pod(t)
	assert.Equal(t, "rollouts", volume(t, tmpl.Spec, "fleet").PersistentVolumeClaim.ClaimName)
	assert.Empty(t, r.claims, "the user's claim, none made")

	agents := notes(t, "phoenix", "-f", ciFile(t, "fleet-agents"))
	assert.Contains(t, agents, "Every node reports over OpAMP to ws://phoenix-fleet-otelcol-phoenix.observability.svc:4320/v1/opamp")
	assert.Contains(t, agents, "Secret phoenix-fleet-otelcol-phoenix-fleet-token")
	assert.NotContains(t, agents, "[WARNING]")
	both := notes(t, "phoenix", "-f", ciFile(t, "fleet-agents"), "--set", "presets.desiredState.enabled=true")
	assert.Contains(t, both, "[WARNING] presets.desiredState and presets.control.opamp both set the nodes' desired state")
}

// TestFleetRolloutOverTheRenderedConfigs runs what the two releases render — the controller's config and
// one agent's, each with its pod's environment and the token of the controller's Secret — and has the
// controller list the agent and roll top20 out to it: the chart's wiring (endpoint, path, token header,
// auth, storage, and with mutual TLS the certificates' mounts, node identity and the API's own port) works
// end to end. Only what a pod has and this machine has not is changed: loopback ports for the pods'
// addresses, the Service name for the controller's address, state directories, the mounted Secrets' and
// volumes' files (a test CA's, at the paths the pods mount them), and short intervals so the wave is judged
// in seconds.
func TestFleetRolloutOverTheRenderedConfigs(t *testing.T) {
	t.Run("token", func(t *testing.T) { rolloutOverRendered(t, "fleet", "fleet-agents", false) })
	t.Run("mutual_tls", func(t *testing.T) { rolloutOverRendered(t, "fleet-mtls", "fleet-agents-mtls", true) })
}

func rolloutOverRendered(t *testing.T, controllerCI, agentsCI string, mtls bool) {
	bin := harness.Binary(t)
	controller := decode(t, renderAs(t, fleetRelease, "-f", ciFile(t, controllerCI), "--set", "presets.fleet.reportInterval=1s"))
	agents := decode(t, render(t, "-f", ciFile(t, agentsCI), "--set", "presets.control.opamp.reportInterval=1s"))
	agentPod, _ := agents.pod(t)
	ctlPod, _ := controller.pod(t)
	ref := envFrom(collector(t, agentPod.Spec), "PHOENIX_FLEET_TOKEN")
	require.NotNil(t, ref)
	token := "the-fleet-token" // a Secret of the user's (existingSecret)
	if s := controller.secrets[ref.Name]; s != nil {
		token = string(s.Data[ref.Key])
	}
	require.NotEmpty(t, token)

	write := func(name, cfg string) string {
		path := filepath.Join(t.TempDir(), name)
		require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
		return path
	}
	ctlConfig, agentConfig := collectorConfig(t, controller), collectorConfig(t, agents)
	scheme, client := "http", &http.Client{Timeout: 10 * time.Second}
	if mtls {
		// What kubelet mounts: the controller's kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt), the
		// agents' CA Secret and the node's own certificate, naming it.
		pki := testcert.NewPKI(t)
		svc := fleetRelease + "-otelcol-phoenix." + namespace + ".svc"
		pki.Issue(t, "server", svc, []string{svc}, true)
		pki.Issue(t, "node-1", "node-1", nil, false)
		ctlConfig = mountFiles(t, ctlPod.Spec, ctlConfig, map[string]map[string]string{
			"fleet-tls": {"tls.crt": pki.Dir + "/server.pem", "tls.key": pki.Dir + "/server-key.pem", "ca.crt": pki.CAFile()}})
		agentConfig = mountFiles(t, agentPod.Spec, agentConfig, map[string]map[string]string{
			"opamp-ca":     {"ca.crt": pki.CAFile()},
			"opamp-client": {"tls.crt": pki.Dir + "/node-1.pem", "tls.key": pki.Dir + "/node-1-key.pem"}})
		scheme, client = "https", &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.Client()}}
	}
	ctlCfg, ctlPorts := harness.RewritePorts(t, write("controller.yaml", ctlConfig))
	agentCfg, agentPorts := harness.RewritePorts(t, write("agent.yaml", agentConfig))
	opampPort, apiPort := ctlPorts[4320], ctlPorts[4320]
	if mtls {
		apiPort = ctlPorts[4321]
	}
	fleetURL := scheme + "://127.0.0.1:" + strconv.Itoa(apiPort)
	podEnv := append(os.Environ(), "MY_POD_IP=127.0.0.1", "K8S_NODE_NAME=node-1", "PHOENIX_FLEET_TOKEN="+token)

	ctl := exec.Command(bin, "--config", ctlCfg, "--set=service::telemetry::metrics::level=none",
		"--set=extensions::file_storage/fleet::directory="+t.TempDir())
	ctl.Env = podEnv
	ctlC := harness.StartCmd(t, ctl)
	_, err := ctlC.WaitHTTP("http://127.0.0.1:"+strconv.Itoa(ctlPorts[13133])+"/", http.StatusOK, 60*time.Second)
	require.NoError(t, err, "the controller is healthy")

	wsScheme := strings.Replace(scheme, "http", "ws", 1)
	agent := exec.Command(bin, "--config", agentCfg, "--set=service::telemetry::metrics::level=none",
		"--set=extensions::file_storage/phoenix::directory="+t.TempDir(),
		"--set=extensions::phoenix_control::opamp::endpoint="+wsScheme+"://127.0.0.1:"+strconv.Itoa(opampPort)+"/v1/opamp",
		"--set=receivers::simulated_process::collection_interval=1s", "--set=processors::experiment/process::window=2s")
	agent.Env = append(podEnv, "PHOENIX_CONTROL_TOKEN=control-token")
	agentC := harness.StartCmd(t, agent)
	_, err = agentC.WaitHTTP("http://127.0.0.1:"+strconv.Itoa(agentPorts[13133])+"/", http.StatusOK, 60*time.Second)
	require.NoError(t, err, "the agent is healthy")

	fleet := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, fleetURL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		status, b := send(t, client, req)
		return status, b
	}
	unauthenticated, err := http.NewRequest(http.MethodGet, fleetURL+"/api/v1/fleet/agents", nil)
	require.NoError(t, err)
	status, body := send(t, client, unauthenticated)
	assert.Equal(t, http.StatusUnauthorized, status, "the API needs the token: %s", body)
	if mtls {
		// The opamp port asks for a node's certificate: the operators' client, with the token, is refused.
		req, err := http.NewRequest(http.MethodGet, scheme+"://127.0.0.1:"+strconv.Itoa(opampPort)+"/api/v1/fleet/agents", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		_, err = client.Do(req)
		assert.Error(t, err, "no client certificate, no TLS session on the agents' port")
	}

	require.NoError(t, agentC.WaitFor(30*time.Second, func() error {
		_, body := fleet(http.MethodGet, "/api/v1/fleet/agents", "")
		var list struct {
			Agents []struct {
				Node        string `json:"node"`
				Phoenix     bool   `json:"phoenix"`
				Connected   bool   `json:"connected"`
				Experiments map[string]struct {
					Active string `json:"active"`
				} `json:"experiments"`
			} `json:"agents"`
		}
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		if len(list.Agents) != 1 || list.Agents[0].Node != "node-1" || !list.Agents[0].Phoenix || !list.Agents[0].Connected ||
			list.Agents[0].Experiments["experiment/process"].Active != "full" {
			return fmt.Errorf("agents: %s", body)
		}
		return nil
	}), "the agent connected with the token and reports its experiment")

	status, body = fleet(http.MethodPost, "/api/v1/fleet/rollouts", `{"experiment": "experiment/process", "candidate": "top20",
		"waves": [{"count": 1}], "soak": "2s", "criteria": {"min_series_reduction": 0.3, "critical_visible": true}}`)
	require.Equal(t, http.StatusCreated, status, body)
	var started struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &started))
	var ro struct {
		Phase    string `json:"phase"`
		Reason   string `json:"reason"`
		Promoted bool   `json:"promoted"`
	}
	require.NoError(t, ctlC.WaitFor(60*time.Second, func() error {
		_, body = fleet(http.MethodGet, "/api/v1/fleet/rollouts/"+started.ID, "")
		if err := json.Unmarshal([]byte(body), &ro); err != nil {
			return err
		}
		if ro.Phase != "completed" && ro.Phase != "failed" && ro.Phase != "cancelled" {
			return fmt.Errorf("rollout %s", ro.Phase)
		}
		return nil
	}), "the rollout ends: %s", body)
	require.Equal(t, "completed", ro.Phase, body)
	assert.True(t, ro.Promoted, body)

	require.NoError(t, agentC.Stop(30*time.Second))
	require.NoError(t, ctlC.Stop(30*time.Second))
}

func send(t *testing.T, client *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b.String()
}
