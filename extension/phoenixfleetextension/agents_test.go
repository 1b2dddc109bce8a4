package phoenixfleetextension

import (
	"context"
	"net"
	"testing"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// wsConn stands for a WebSocket connection (not a poll).
type wsConn struct{ id int }

func (*wsConn) Connection() net.Conn                                 { return nil }
func (*wsConn) Send(context.Context, *protobufs.ServerToAgent) error { return nil }
func (*wsConn) Disconnect() error                                    { return nil }

// TestReconnectBeforeCloseIsAskedToDescribe: an agent that comes back on a new connection before the
// server has seen its old one close has its first message refused, and that message carried its
// description (a new host.name here). Its next message on the new connection is asked for everything, so
// the new name is not lost (CI once saw the old one kept for good).
func TestReconnectBeforeCloseIsAskedToDescribe(t *testing.T) {
	tab := newAgents(zap.NewNop(), 4)
	uid := uuid.New()
	described := func(node string) *protobufs.AgentToServer {
		return &protobufs.AgentToServer{InstanceUid: uid[:], AgentDescription: &protobufs.AgentDescription{
			IdentifyingAttributes: []*protobufs.KeyValue{{Key: "service.name", Value: &protobufs.AnyValue{
				Value: &protobufs.AnyValue_StringValue{StringValue: "otelcol-phoenix"}}}},
			NonIdentifyingAttributes: []*protobufs.KeyValue{{Key: "host.name", Value: &protobufs.AnyValue{
				Value: &protobufs.AnyValue_StringValue{StringValue: node}}}}}}
	}
	heartbeat := &protobufs.AgentToServer{InstanceUid: uid[:]}
	fullState := uint64(protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportFullState)
	old, renewed := &wsConn{1}, &wsConn{2}

	require.Nil(t, tab.onMessage(context.Background(), old, described("node-x")).ErrorResponse)
	assert.Zero(t, tab.onMessage(context.Background(), old, heartbeat).Flags&fullState, "a described agent is not asked again")
	assert.NotNil(t, tab.onMessage(context.Background(), renewed, described("node-y")).ErrorResponse,
		"its old connection is open still")
	tab.onClose(old)
	out := tab.onMessage(context.Background(), renewed, heartbeat)
	require.Nil(t, out.ErrorResponse)
	assert.NotZero(t, out.Flags&fullState, "the refused description is asked for again")
	tab.onMessage(context.Background(), renewed, described("node-y"))
	assert.Zero(t, tab.onMessage(context.Background(), renewed, heartbeat).Flags&fullState)
	assert.Equal(t, "node-y", tab.list()[0].node)
}
