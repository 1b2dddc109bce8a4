// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"bytes"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHugeWebSocketMessageIsCut: a message far beyond what an agent sends closes its connection once the
// connection's budget is spent; the controller goes on.
func TestHugeWebSocketMessageIsCut(t *testing.T) {
	f := startFleet(t)
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+f.Addr().String()+opampPath, nil)
	require.NoError(t, err)
	defer conn.Close()
	huge := bytes.Repeat([]byte{'x'}, 64<<20)
	_ = conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	// Cut midway: without the budget the server reads all of it (then fails to decode it).
	assert.Error(t, conn.WriteMessage(websocket.BinaryMessage, huge), "the server closed the connection before the end")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = conn.ReadMessage()
	assert.Error(t, err, "the connection was closed")
	assert.Empty(t, getAgents(t, f), "nothing of it was kept")
}
