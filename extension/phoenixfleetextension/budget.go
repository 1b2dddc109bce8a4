// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// opamp-go's WebSocket server reads messages of any size (it sets no read limit), so one agent could make
// the controller hold gigabytes. A WebSocket connection gets a byte budget instead: more than budget bytes
// read within a minute closes it (an agent's report is a few KiB; plain HTTP is bounded by
// max_request_body_size already).
func withReadBudget(next http.Handler, budget int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hj, ok := w.(http.Hijacker); ok && r.Header.Get("Upgrade") != "" {
			w = budgetWriter{ResponseWriter: w, hj: hj, budget: budget}
		}
		next.ServeHTTP(w, r)
	})
}

type budgetWriter struct {
	http.ResponseWriter
	hj     http.Hijacker
	budget int64
}

func (b budgetWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := b.hj.Hijack()
	if err != nil {
		return c, rw, err
	}
	bc := &budgetConn{Conn: c, budget: b.budget, since: time.Now()}
	if rw.Reader.Buffered() == 0 {
		// The usual case (a client sends nothing before the handshake's answer). The WebSocket library keeps
		// the reader it is given as the connection's for its life: a small one, since every agent has one
		// and a report is read mostly straight into the message (bufio reads big reads directly).
		return bc, bufio.NewReadWriter(bufio.NewReaderSize(bc, connReadBuffer), rw.Writer), nil
	}
	// What the server's bufio reader already buffered was read from c before: it counts from here.
	return bc, bufio.NewReadWriter(bufio.NewReader(readerFunc(func(p []byte) (int, error) {
		if rw.Reader.Buffered() > 0 {
			return rw.Reader.Read(p)
		}
		return bc.Read(p)
	})), rw.Writer), nil
}

// connReadBuffer is a WebSocket connection's read buffer: over 256 bytes, so that the WebSocket library
// keeps it rather than allocating its own 4 KiB.
const connReadBuffer = 512

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

var errOverBudget = errors.New("an OpAMP connection read more than its budget")

type budgetConn struct {
	net.Conn
	mu     sync.Mutex
	budget int64
	read   int64
	since  time.Time
}

func (c *budgetConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if time.Since(c.since) > time.Minute {
		c.read, c.since = 0, time.Now()
	}
	c.read += int64(n)
	over := c.read > c.budget
	c.mu.Unlock()
	if over {
		_ = c.Conn.Close()
		return n, errOverBudget
	}
	return n, err
}

// Write passes writes on; defined for the embedding's sake (net.Conn).
func (c *budgetConn) Write(p []byte) (int, error) { return c.Conn.Write(p) }
