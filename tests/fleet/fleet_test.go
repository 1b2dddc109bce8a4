// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package fleet runs the built binary as a fleet: one phoenix_fleet controller and four node agents
// (phoenix_control over OpAMP, each on a simulated node), all on loopback, and drives rollouts through the
// controller's API while checking each node through its own.
package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

const experiment = "experiment/process"

var client = &http.Client{Timeout: 5 * time.Second}

// call sends a request (a JSON body when body is not empty) and returns the status and body.
func call(method, u, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// getJSON GETs u and decodes a 200 answer into v.
func getJSON(u string, v any) error {
	status, body, err := call(http.MethodGet, u, "")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", u, status, body)
	}
	return json.Unmarshal(body, v)
}

// eventually polls cond every 250ms until it returns nil or timeout passes; it returns the last error.
func eventually(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %w", timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func kill(t *testing.T, c *harness.Collector) {
	t.Helper()
	require.NoError(t, syscall.Kill(c.Pid(), syscall.SIGKILL))
	require.NoError(t, eventually(10*time.Second, func() error {
		if !c.Exited() {
			return errors.New("still running")
		}
		return nil
	}))
}

// controller is the phoenix_fleet collector; its port and state directory outlive a restart. owner is the
// test whose end kills it (a restart within a subtest must outlive the subtest).
type controller struct {
	owner    *testing.T
	port     int
	stateDir string
	c        *harness.Collector
}

func (f *controller) url(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(f.port) + path
}

// start runs the controller and waits for its API.
func (f *controller) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(harness.Binary(t), "--config", filepath.Join("testdata", "controller.yaml"))
	cmd.Env = append(os.Environ(), "FLEET_PORT="+strconv.Itoa(f.port), "FLEET_STATE_DIR="+f.stateDir)
	f.c = harness.StartCmd(f.owner, cmd)
	_, err := f.c.WaitHTTP(f.url("/api/v1/fleet/agents"), http.StatusOK, 60*time.Second)
	require.NoError(t, err, "the controller serves its API")
}

// agent is one node's collector; owner is the test whose end kills it.
type agent struct {
	owner     *testing.T
	node      string
	apiPort   int
	fleetPort int
	configs   []string
	c         *harness.Collector
}

func (a *agent) url(path string) string { return "http://127.0.0.1:" + strconv.Itoa(a.apiPort) + path }

// newAgent prepares a node agent of the controller on fleetPort; start runs it.
func newAgent(t *testing.T, node string, fleetPort int, extraConfigs ...string) *agent {
	return &agent{owner: t, node: node, apiPort: harness.FreePort(t), fleetPort: fleetPort,
		configs: append([]string{"agent.yaml"}, extraConfigs...)}
}

// start runs the agent without waiting for it (same node name, so the same OpAMP instance UID).
func (a *agent) start() {
	var args []string
	for _, c := range a.configs {
		args = append(args, "--config", filepath.Join("testdata", c))
	}
	cmd := exec.Command(harness.Binary(a.owner), args...)
	cmd.Env = append(os.Environ(), "NODE_NAME="+a.node, "API_PORT="+strconv.Itoa(a.apiPort), "FLEET_PORT="+strconv.Itoa(a.fleetPort))
	a.c = harness.StartCmd(a.owner, cmd)
}

// variantView is a variant as the node's own API shows it.
type variantView struct {
	Name            string   `json:"name"`
	Pending         bool     `json:"pending"`
	Series          uint64   `json:"series"`
	Fidelity        *float64 `json:"fidelity"`
	CriticalVisible float64  `json:"critical_visible"`
}

// experimentView is the experiment as the node's own API shows it.
type experimentView struct {
	Active   string        `json:"active"`
	Complete bool          `json:"complete"`
	Variants []variantView `json:"variants"`
}

func (a *agent) experiment() (experimentView, error) {
	var e experimentView
	err := getJSON(a.url("/api/v1/experiments/"+url.PathEscape(experiment)), &e)
	return e, err
}

// measured says whether the node has a complete window in which every variant has a fidelity. A node's
// first windows have none (a rate needs two scrapes), and a rollout fails closed on a window without one.
func (a *agent) measured() (experimentView, error) {
	e, err := a.experiment()
	if err != nil {
		return e, err
	}
	if !e.Complete {
		return e, fmt.Errorf("%s: no complete window yet", a.node)
	}
	for _, v := range e.Variants {
		if v.Pending || v.Fidelity == nil {
			return e, fmt.Errorf("%s: %s pending or without fidelity yet", a.node, v.Name)
		}
	}
	return e, nil
}

// active is the variant the node runs, by its own API.
func (a *agent) active() (string, error) {
	e, err := a.experiment()
	return e.Active, err
}

// fleetAgent is an agent as the controller lists it.
type fleetAgent struct {
	ID          string `json:"id"`
	Node        string `json:"node"`
	Connected   bool   `json:"connected"`
	Experiments map[string]struct {
		Active string `json:"active"`
	} `json:"experiments"`
}

func (f *controller) agents() ([]fleetAgent, error) {
	var out struct {
		Agents []fleetAgent `json:"agents"`
	}
	err := getJSON(f.url("/api/v1/fleet/agents"), &out)
	return out.Agents, err
}

// verdict, wave, member and rollout are the controller's rollout as its API shows it.
type verdict struct {
	Pass            bool     `json:"pass"`
	SeriesReduction float64  `json:"series_reduction"`
	Fidelity        *float64 `json:"fidelity"`
	CriticalVisible float64  `json:"critical_visible"`
	Reasons         []string `json:"reasons"`
	Wave            int      `json:"wave"`
	Agents          int      `json:"agents"`
	Nodes           []string `json:"nodes"`
}

type wave struct {
	Wave      int       `json:"wave"`
	Size      int       `json:"size"`
	Agents    []string  `json:"agents"`
	StartedAt time.Time `json:"started_at"`
	AppliedAt time.Time `json:"applied_at"`
	Verdict   *verdict  `json:"verdict"`
}

type member struct {
	ID   string `json:"id"`
	Node string `json:"node"`
}

type rollout struct {
	ID          string    `json:"id"`
	Phase       string    `json:"phase"`
	Reason      string    `json:"reason"`
	Wave        int       `json:"wave"`
	Paused      bool      `json:"paused"`
	PauseReason string    `json:"pause_reason"`
	Assigned    []member  `json:"assigned"`
	Promoted    bool      `json:"promoted"`
	Verdict     *verdict  `json:"verdict"`
	Waves       []wave    `json:"waves"`
	CreatedAt   time.Time `json:"created_at"`
	Events      []struct {
		Message string `json:"message"`
	} `json:"events"`
}

func (r rollout) terminal() bool {
	return slices.Contains([]string{"completed", "failed", "cancelled"}, r.Phase)
}

// assigned says whether the agent of that ID runs the candidate by the rollout.
func (r rollout) assigned(id string) bool {
	return slices.ContainsFunc(r.Assigned, func(m member) bool { return m.ID == id })
}

// String is the rollout in a few lines, for failure messages.
func (r rollout) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "rollout %s: phase %s, wave %d, paused %v %q, promoted %v, reason %q\n", r.ID, r.Phase, r.Wave, r.Paused, r.PauseReason, r.Promoted, r.Reason)
	if r.Verdict != nil {
		fmt.Fprintf(&b, "  verdict: %+v\n", *r.Verdict)
	}
	for _, e := range r.Events {
		fmt.Fprintf(&b, "  event: %s\n", e.Message)
	}
	return b.String()
}

func (f *controller) startRollout(t *testing.T, spec string) rollout {
	t.Helper()
	status, body, err := call(http.MethodPost, f.url("/api/v1/fleet/rollouts"), spec)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var r rollout
	require.NoError(t, json.Unmarshal(body, &r))
	return r
}

func (f *controller) rollout(id string) (rollout, error) {
	var r rollout
	err := getJSON(f.url("/api/v1/fleet/rollouts/"+id), &r)
	return r, err
}

// waitRollout polls the rollout until cond holds on it; it returns the last one seen.
func (f *controller) waitRollout(t *testing.T, id string, timeout time.Duration, what string, cond func(rollout) bool) rollout {
	t.Helper()
	var last rollout
	err := f.c.WaitFor(timeout, func() error {
		r, err := f.rollout(id)
		if err != nil {
			return err
		}
		last = r
		if !cond(r) {
			return errors.New(what)
		}
		return nil
	})
	require.NoError(t, err, "%s\n%s", what, last)
	return last
}

// cancelInProgress cancels any rollout still in progress (left by a failed step), so the next can start.
func (f *controller) cancelInProgress(t *testing.T) {
	t.Helper()
	var list struct {
		Rollouts []rollout `json:"rollouts"`
	}
	require.NoError(t, getJSON(f.url("/api/v1/fleet/rollouts"), &list))
	for _, r := range list.Rollouts {
		if !r.terminal() {
			status, body, err := call(http.MethodPost, f.url("/api/v1/fleet/rollouts/"+r.ID+"/cancel"), "")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status, "%s", body)
		}
	}
}

// waitFleet waits until the controller lists the agents of ids (ID -> node), each connected, reporting
// the experiment and named by its node.
func (f *controller) waitFleet(timeout time.Duration, ids map[string]string) error {
	return f.c.WaitFor(timeout, func() error {
		list, err := f.agents()
		if err != nil {
			return err
		}
		var wrong []string
		for _, a := range list {
			if _, ok := a.Experiments[experiment]; !ok || !a.Connected || a.Node != ids[a.ID] {
				wrong = append(wrong, fmt.Sprintf("%s: node %q (want %q), connected %v, experiments %v", a.ID, a.Node, ids[a.ID], a.Connected, a.Experiments))
			}
		}
		if len(list) != len(ids) || len(wrong) > 0 {
			return fmt.Errorf("%d agents listed, want %d; %s", len(list), len(ids), strings.Join(wrong, "; "))
		}
		return nil
	})
}

// waitActive waits until every listed node runs want (by its own API).
func waitActive(t *testing.T, timeout time.Duration, want func(node string) string, agents ...*agent) {
	t.Helper()
	require.NoError(t, eventually(timeout, func() error {
		var wrong []string
		for _, a := range agents {
			got, err := a.active()
			if err != nil {
				return err
			}
			if got != want(a.node) {
				wrong = append(wrong, fmt.Sprintf("%s runs %s, want %s", a.node, got, want(a.node)))
			}
		}
		if len(wrong) > 0 {
			return errors.New(strings.Join(wrong, "; "))
		}
		return nil
	}))
}
