// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/protobufs"
	servertypes "github.com/open-telemetry/opamp-go/server/types"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
)

// An agent's labels are bounded: they are kept for every agent and listed at every request.
const (
	maxLabels    = 64
	maxLabelSize = 256
)

// agent is what the controller knows of one OpAMP agent.
type agent struct {
	mu sync.Mutex // orders sends on the connection (opamp-go: not concurrently)

	uid         string
	uidBytes    []byte
	node        string
	service     string
	version     string
	labels      map[string]string // non-identifying attributes
	phoenix     bool              // declares our capability: it has experiments
	figures     *fleet.Figures
	lastFigures time.Time
	healthy     bool
	status      string
	lastError   string
	connected   bool
	lastSeen    time.Time
	remote      *protobufs.RemoteConfigStatus
	effective   []byte
	conn        servertypes.Connection
	polling     bool   // plain HTTP: each poll is a connection of its own, closed when answered
	desired     []byte // the desired state we want it to run (nil: none from us)
	desiredHash []byte
	sentHash    []byte // what was last handed to it
}

// agentView is an agent as the API shows it.
type agentView struct {
	ID          string                      `json:"id"`
	Node        string                      `json:"node"`
	Service     string                      `json:"service"`
	Version     string                      `json:"version"`
	Labels      map[string]string           `json:"labels"`
	Phoenix     bool                        `json:"phoenix"`
	Connected   bool                        `json:"connected"`
	LastSeen    time.Time                   `json:"last_seen"`
	Healthy     bool                        `json:"healthy"`
	Status      string                      `json:"status,omitempty"`
	LastError   string                      `json:"last_error,omitempty"`
	Experiments map[string]experimentActive `json:"experiments"`
	// Desired is how the agent took the desired state the controller sent it: applied, failed (with why),
	// applying, or "" when none was sent.
	Desired      string `json:"desired,omitempty"`
	DesiredError string `json:"desired_error,omitempty"`
}

type experimentActive struct {
	Active   string   `json:"active"`
	Baseline string   `json:"baseline"`
	Variants []string `json:"variants"`
}

// stale says the agent has been silent for longer than silence (under a.mu).
func (a *agent) stale(now time.Time, silence time.Duration) bool {
	return now.Sub(a.lastSeen) > silence
}

// live: connected over WebSocket (the connection says so: an agent need not heartbeat, and
// otelcol-contrib's does every 30 s whatever the controller's report_interval), or a poller heard from
// within silence, or three of the intervals it reports at (under a.mu).
func (a *agent) live(now time.Time, silence time.Duration) bool {
	silence = max(silence, fleet.SilentReports*a.reportInterval(0))
	return a.connected && (a.conn != nil && !a.polling || !a.stale(now, silence))
}

// maxDeclaredInterval bounds what an agent may say of its report interval: longer, it could stay
// unsilent (and hold a wave) for hours without a report.
const maxDeclaredInterval = 10 * time.Minute

// reportInterval is how often the agent says it reports (phoenix.report_interval), at least the
// controller's own: it is silent after three of them.
func (a *agent) reportInterval(controller time.Duration) time.Duration {
	if d, err := time.ParseDuration(a.labels["phoenix.report_interval"]); err == nil && d > controller && d <= maxDeclaredInterval {
		return d
	}
	return controller
}

func (a *agent) view(now time.Time, silence time.Duration) agentView {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := agentView{ID: a.uid, Node: a.node, Service: a.service, Version: a.version, Labels: a.labels, Phoenix: a.phoenix,
		Connected: a.live(now, silence), LastSeen: a.lastSeen, Healthy: a.healthy, Status: a.status, LastError: a.lastError,
		Experiments: map[string]experimentActive{}}
	if a.figures != nil {
		for _, e := range a.figures.Experiments {
			ea := experimentActive{Active: e.Active, Baseline: e.Baseline}
			for _, x := range e.Variants {
				ea.Variants = append(ea.Variants, x.Name)
			}
			v.Experiments[e.Name] = ea
		}
	}
	if a.desired != nil && a.remote != nil && bytes.Equal(a.remote.LastRemoteConfigHash, a.desiredHash) {
		v.Desired = strings.ToLower(strings.TrimPrefix(a.remote.Status.String(), "RemoteConfigStatuses_"))
		v.DesiredError = a.remote.ErrorMessage
	} else if a.desired != nil {
		v.Desired = "sent"
	}
	return v
}

// agents is the controller's table of agents, by instance UID.
type agents struct {
	logger *zap.Logger
	max    int
	now    func() time.Time
	// certIdentity: an agent's host.name must be named by its connection's client certificate
	// (node_identity: certificate); nodes is then each node's one agent (UID); refusedIdentity counts the
	// messages refused for it.
	certIdentity    bool
	nodes           map[string]string // canonicalNode → UID
	refusedIdentity atomic.Int64
	warned          map[string]time.Time // a certificate's first name → when its refusal was last logged

	reports atomic.Int64 // figures messages received, for the scale benchmark's CPU per report

	mu     sync.RWMutex
	byUID  map[string]*agent
	byConn map[servertypes.Connection]*agent
	// changed is signalled (without blocking) when an agent reports something a rollout may act on.
	changed chan struct{}
}

func newAgents(logger *zap.Logger, max int) *agents {
	return &agents{logger: logger, max: max, now: time.Now, byUID: map[string]*agent{}, nodes: map[string]string{}, warned: map[string]time.Time{},
		byConn: map[servertypes.Connection]*agent{}, changed: make(chan struct{}, 1)}
}

func truncate(s string) string {
	if len(s) > maxLabelSize {
		return s[:maxLabelSize]
	}
	return s
}

// callbacks are the OpAMP server's.
func callbacks(t *agents) servertypes.Callbacks {
	return servertypes.Callbacks{OnConnecting: t.onConnecting}
}

// closeAll drops every agent's connection (the server's Stop leaves hijacked WebSocket connections open).
func (t *agents) closeAll() {
	t.mu.Lock()
	conns := make([]servertypes.Connection, 0, len(t.byConn))
	for c := range t.byConn {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Disconnect()
	}
}

// onConnecting accepts a connection while there is room for a new agent (an existing one may reconnect)
// and, with node identity, when it carries a client certificate: the names the agent may report as its
// host.name.
func (t *agents) onConnecting(req *http.Request) servertypes.ConnectionResponse {
	var names []string
	if t.certIdentity {
		if names = peerNames(req); len(names) == 0 {
			t.logger.Warn("agent refused: no client certificate with a name (node_identity: certificate)",
				zap.String("remote", req.RemoteAddr))
			return servertypes.ConnectionResponse{Accept: false, HTTPStatusCode: http.StatusUnauthorized}
		}
	}
	// Known agents may always come back: the table is full only of connected ones (a disconnected agent
	// makes room for a new one, see get); the UID is not known before the first message.
	t.mu.RLock()
	full := len(t.byConn) >= t.max
	t.mu.RUnlock()
	if full {
		t.logger.Warn("agent refused: max_agents reached", zap.Int("max_agents", t.max))
		return servertypes.ConnectionResponse{Accept: false, HTTPStatusCode: http.StatusServiceUnavailable,
			HTTPResponseHeader: map[string]string{"Retry-After": "60"}}
	}
	onMessage := t.onMessage
	if names != nil {
		var warned atomic.Bool
		onMessage = func(ctx context.Context, conn servertypes.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
			return t.onMessageAs(ctx, conn, msg, names, &warned)
		}
	}
	return servertypes.ConnectionResponse{Accept: true, ConnectionCallbacks: servertypes.ConnectionCallbacks{
		OnMessage: onMessage, OnConnectionClose: t.onClose}}
}

// peerNames are the names a connection's verified client certificate gives: its common name and DNS
// names (none without a certificate).
func peerNames(req *http.Request) []string {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return nil
	}
	cert := req.TLS.PeerCertificates[0]
	var names []string
	for _, n := range append([]string{cert.Subject.CommonName}, cert.DNSNames...) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// onMessageAs takes a message only when the agent's host.name — the one it describes now, or the one
// known for its instance UID — is one of names, its connection's certificate's: a node cannot report as
// another, nor use another's UID, and one node is one agent (a certificate cannot fill max_agents). The
// UID a node's agent derives from its name (fleet.NodeUID) is that node's whoever used it first. An agent
// known by UID only is asked for its description first.
func (t *agents) onMessageAs(ctx context.Context, conn servertypes.Connection, msg *protobufs.AgentToServer, names []string, warned *atomic.Bool) *protobufs.ServerToAgent {
	uid, err := uuid.FromBytes(msg.InstanceUid)
	if err != nil {
		return t.onMessage(ctx, conn, msg) // answers the malformed UID
	}
	id := uid.String()
	var owner string // the node this UID is known as
	t.mu.RLock()
	if a := t.byUID[id]; a != nil {
		a.mu.Lock()
		owner = a.node
		a.mu.Unlock()
	}
	t.mu.RUnlock()
	node := owner
	if d := msg.AgentDescription; d != nil {
		node = hostName(d)
	}
	if msg.AgentDescription == nil && owner == "" {
		return &protobufs.ServerToAgent{InstanceUid: msg.InstanceUid,
			Flags: uint64(protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportFullState)}
	}
	why := ""
	renamed := owner != "" && canonicalNode(owner) != canonicalNode(node)
	switch rightful := uid == fleet.NodeUID(node); {
	case !namesNode(names, node):
		why = fmt.Sprintf("host.name %q is not named by this connection's client certificate (%s)", node, listNames(names))
	case renamed && !rightful && !namesNode(names, owner): // a certificate naming both may rename
		why = fmt.Sprintf("instance_uid is node %q's; this connection's client certificate names %s", owner, listNames(names))
	case msg.AgentDescription != nil: // its node was claimed when it last described itself
		why = t.claim(canonicalNode(node), id, rightful && renamed)
	}
	if why != "" {
		t.refusedIdentity.Add(1)
		if !warned.Swap(true) && t.warnDue(names[0]) {
			t.logger.Warn("agent messages refused (node_identity: certificate)", zap.String("reason", why))
		}
		return &protobufs.ServerToAgent{InstanceUid: msg.InstanceUid, ErrorResponse: &protobufs.ServerErrorResponse{
			Type: protobufs.ServerErrorResponseType_ServerErrorResponseType_BadRequest, ErrorMessage: why}}
	}
	return t.onMessage(ctx, conn, msg)
}

// certificateNames says whether node is one of a certificate's names: DNS names compare ignoring case and
// a final dot; wildcards match nothing.
func namesNode(names []string, node string) bool {
	node = canonicalNode(node)
	return node != "" && slices.ContainsFunc(names, func(n string) bool { return canonicalNode(n) == node })
}

// canonicalNode is a node name as DNS compares it: lower case, no final dot. One node is one agent under
// this name, however an agent spells it.
func canonicalNode(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// warnDue says whether a refusal for the certificate named first may be logged: once a minute each (a
// plain-HTTP agent's every poll is a connection of its own).
func (t *agents) warnDue(cert string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.warned[cert]; ok && t.now().Sub(last) < time.Minute {
		return false
	}
	if len(t.warned) >= t.max { // bounded by the certificates seen; forget them all rather than grow
		clear(t.warned)
	}
	t.warned[cert] = t.now()
	return true
}

// listNames lists a few of a certificate's names for a message, and counts the rest.
func listNames(names []string) string {
	const shown = 5
	if len(names) <= shown {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:shown], ", "), len(names)-shown)
}

// claim makes the agent id node's one agent, and says why not when node's is another that is connected.
// Another that is not connected is forgotten (a restarted agent with a new UID); so is whoever held id as
// another node when id is node's own (squatted: fleet.NodeUID), its connection closed.
func (t *agents) claim(node, id string, reclaim bool) string {
	t.mu.Lock()
	var drop []servertypes.Connection
	forget := func(a *agent) {
		a.mu.Lock()
		if a.conn != nil {
			drop = append(drop, a.conn)
			delete(t.byConn, a.conn)
		}
		a.conn, a.connected = nil, false
		a.mu.Unlock()
		delete(t.byUID, a.uid)
		if t.nodes[canonicalNode(a.node)] == a.uid {
			delete(t.nodes, canonicalNode(a.node))
		}
	}
	why := ""
	if reclaim {
		if a := t.byUID[id]; a != nil {
			forget(a)
		}
	}
	if other := t.byUID[t.nodes[node]]; other != nil && other.uid != id {
		other.mu.Lock()
		// a WebSocket agent while connected; a poller until it has been silent for a minute
		live := other.conn != nil && !other.polling || other.polling && t.now().Sub(other.lastSeen) <= time.Minute
		other.mu.Unlock()
		if live {
			why = fmt.Sprintf("node %q is connected already as instance %s", node, other.uid)
		} else {
			forget(other)
		}
	}
	if why == "" {
		t.nodes[node] = id
	}
	t.mu.Unlock()
	for _, c := range drop {
		_ = c.Disconnect()
	}
	return why
}

func (t *agents) onClose(conn servertypes.Connection) {
	t.mu.Lock()
	a := t.byConn[conn]
	delete(t.byConn, conn)
	t.mu.Unlock()
	if a == nil {
		return
	}
	a.mu.Lock()
	if a.conn == conn {
		a.conn = nil
		a.connected = a.polling // a poll answered; a silent poller drops off by time (stale)
	}
	a.mu.Unlock()
	t.signal()
}

// onMessage records what an agent reports and answers with the desired state it has not had yet.
func (t *agents) onMessage(_ context.Context, conn servertypes.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
	uid, err := uuid.FromBytes(msg.InstanceUid)
	if err != nil {
		return &protobufs.ServerToAgent{InstanceUid: msg.InstanceUid, ErrorResponse: &protobufs.ServerErrorResponse{
			Type: protobufs.ServerErrorResponseType_ServerErrorResponseType_BadRequest, ErrorMessage: "instance_uid: want 16 bytes"}}
	}
	a, reattached := t.get(uid.String(), conn)
	if a == nil {
		return &protobufs.ServerToAgent{InstanceUid: msg.InstanceUid, ErrorResponse: &protobufs.ServerErrorResponse{
			Type:         protobufs.ServerErrorResponseType_ServerErrorResponseType_Unavailable,
			ErrorMessage: "max_agents reached, or this instance_uid is connected already"}}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.connected, a.lastSeen, a.polling = true, t.now(), isPolling(conn)
	if d := msg.AgentDescription; d != nil {
		a.describe(d)
	}
	if c := msg.CustomCapabilities; c != nil {
		a.phoenix = slices.Contains(c.Capabilities, fleet.Capability)
	}
	if h := msg.Health; h != nil {
		a.healthy, a.status, a.lastError = h.Healthy, h.Status, h.LastError
	}
	if s := msg.RemoteConfigStatus; s != nil {
		a.remote = s
	}
	if e := msg.EffectiveConfig; e != nil {
		a.effective = e.GetConfigMap().GetConfigMap()[fleet.DesiredStateFile].GetBody()
	}
	if cm := msg.CustomMessage; cm != nil && cm.Capability == fleet.Capability && cm.Type == fleet.FiguresType {
		t.reports.Add(1)
		if f, err := fleet.Decode(cm.Data); err == nil {
			a.figures, a.phoenix, a.lastFigures = &f, true, t.now()
		} else {
			t.logger.Debug("agent figures refused", zap.String("agent", a.uid), zap.Error(err))
		}
	}
	out := &protobufs.ServerToAgent{InstanceUid: msg.InstanceUid}
	if msg.AgentDescription == nil && (a.service == "" || reattached) {
		// Known by its UID only (this controller restarted; a reconnecting agent sends no description unless
		// asked), or on a connection whose first message was refused (its old one was not closed yet, and
		// the description it carried may be a new name): ask for everything, or it stays as it was.
		out.Flags |= uint64(protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportFullState)
	}
	if a.desired != nil && !bytes.Equal(a.sentHash, a.desiredHash) {
		out.RemoteConfig, a.sentHash = a.remoteConfig(), a.desiredHash
	}
	t.signal()
	return out
}

// describe takes the agent's identity from its description (under a.mu).
func (a *agent) describe(d *protobufs.AgentDescription) {
	a.labels = map[string]string{}
	for _, kv := range d.IdentifyingAttributes {
		switch v := truncate(kv.Value.GetStringValue()); kv.Key {
		case "service.name":
			a.service = v
		case "service.version":
			a.version = v
		}
	}
	for _, kv := range d.NonIdentifyingAttributes {
		if _, dup := a.labels[kv.Key]; dup {
			continue // the first wins, as for host.name: a second one cannot change what selectors see
		}
		if s, ok := kv.Value.GetValue().(*protobufs.AnyValue_StringValue); ok && len(a.labels) < maxLabels &&
			len(kv.Key) <= maxLabelSize && len(s.StringValue) <= maxLabelSize { // what is kept is bounded
			a.labels[kv.Key] = s.StringValue
		}
	}
	a.node = hostName(d)
	if delete(a.labels, "host.name"); a.node != "" {
		a.labels["host.name"] = a.node // what selectors match is the name the agent is known (and checked) as
	}
}

// hostName is the node an agent describes (host.name, a non-identifying attribute), bounded.
func hostName(d *protobufs.AgentDescription) string {
	for _, kv := range d.NonIdentifyingAttributes {
		if s, ok := kv.Value.GetValue().(*protobufs.AnyValue_StringValue); ok && kv.Key == "host.name" {
			return truncate(s.StringValue)
		}
	}
	return ""
}

func (a *agent) remoteConfig() *protobufs.AgentRemoteConfig {
	return &protobufs.AgentRemoteConfig{ConfigHash: a.desiredHash, Config: &protobufs.AgentConfigMap{
		ConfigMap: map[string]*protobufs.AgentConfigFile{fleet.DesiredStateFile: {Body: a.desired, ContentType: fleet.ContentType}}}}
}

// get finds or adds the agent of uid, now on conn (nil when the table is full); reattached says that a
// known agent came to conn with this message.
func (t *agents) get(uid string, conn servertypes.Connection) (a *agent, reattached bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.byUID[uid]
	if ok && a.conn != nil && a.conn != conn && !a.polling {
		return nil, false // a live WebSocket agent has this UID: another connection may not take its identity over
	}
	if !ok {
		if len(t.byUID) >= t.max && !t.evictLocked() {
			return nil, false
		}
		id := uuid.MustParse(uid)
		a = &agent{uid: uid, uidBytes: id[:], labels: map[string]string{}}
		t.byUID[uid] = a
	}
	if t.byConn[conn] != a {
		t.byConn[conn] = a
		a.mu.Lock()
		a.conn = conn
		a.mu.Unlock()
		reattached = ok && !isPolling(conn) // a poller comes on a new connection every time
	}
	return a, reattached
}

// isPolling tells a plain-HTTP connection (one poll) from a WebSocket one: opamp-go exports neither type,
// and only a WebSocket connection can be sent to.
func isPolling(conn servertypes.Connection) bool {
	return strings.HasSuffix(fmt.Sprintf("%T", conn), "httpConnection")
}

// evictLocked forgets the disconnected agent seen longest ago, to make room (under t.mu); false when every
// agent is connected.
func (t *agents) evictLocked() bool {
	var oldest *agent
	for _, a := range t.byUID {
		a.mu.Lock()
		gone := a.conn == nil && t.now().Sub(a.lastSeen) > time.Minute // a poller between polls is not gone
		a.mu.Unlock()
		if gone && (oldest == nil || a.lastSeen.Before(oldest.lastSeen)) {
			oldest = a
		}
	}
	if oldest == nil {
		return false
	}
	delete(t.byUID, oldest.uid)
	if t.nodes[canonicalNode(oldest.node)] == oldest.uid {
		delete(t.nodes, canonicalNode(oldest.node))
	}
	return true
}

func (t *agents) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// list is every agent, by node then ID.
func (t *agents) list() []*agent {
	t.mu.RLock()
	type keyed struct {
		node string
		a    *agent
	}
	all := make([]keyed, 0, len(t.byUID))
	for _, a := range t.byUID {
		a.mu.Lock()
		all = append(all, keyed{a.node, a})
		a.mu.Unlock()
	}
	t.mu.RUnlock()
	slices.SortFunc(all, func(x, y keyed) int {
		if c := strings.Compare(x.node, y.node); c != 0 {
			return c
		}
		return strings.Compare(x.a.uid, y.a.uid)
	})
	out := make([]*agent, len(all))
	for i, k := range all {
		out[i] = k.a
	}
	return out
}

// setDesired makes body the desired state of an agent and hands it over now on a WebSocket connection
// (a plain-HTTP agent takes it with its next poll). It returns whether it was sent now.
func (a *agent) setDesired(ctx context.Context, body []byte) bool {
	sum := sha256.Sum256(body)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.desired, a.desiredHash = body, sum[:]
	if a.conn == nil || bytes.Equal(a.sentHash, a.desiredHash) {
		return false
	}
	msg := &protobufs.ServerToAgent{InstanceUid: a.uidBytes, RemoteConfig: a.remoteConfig()}
	if err := a.conn.Send(ctx, msg); err != nil {
		return false // plain HTTP, or a connection going: the next poll or reconnection takes it
	}
	a.sentHash = a.desiredHash
	return true
}
