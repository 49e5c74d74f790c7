// Package notifytest is the contract suite for core.Notifier. Every
// implementation runs it: the in-process notifier in every go test, the SNS
// adapter against the emulator (a topic with an SQS queue subscribed).
//
// The contract, besides core.Notifier's doc:
//   - a subscriber receives every published notification with all its fields
//     (ID, RecipientID, Type, ShareID, CreatedAt to the nanosecond, Data
//     with any characters), and two attributes it can filter on without
//     reading the body: event_type (the Type) and recipient_id;
//   - delivery is at least once: a notification may arrive twice (SNS may
//     redeliver) but never altered, and none is lost, also when many
//     goroutines publish at once; order is not promised;
//   - a notification without ID, RecipientID, Type or CreatedAt, or with a
//     string that is not UTF-8 (SNS carries UTF-8 only), is a bug of the
//     caller: Publish refuses it with KindInternal and delivers nothing.
package notifytest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/core"
)

// Message is one delivery as a subscriber sees it: the notification decoded
// from the body, and the attributes that came beside the body.
type Message struct {
	Notification core.Notification
	Attributes   map[string]string
}

// Receive waits until want messages have arrived since the last call, or
// until timeout, and returns the messages that arrived (more than want if
// more came, fewer on timeout). It fails t on a message it cannot decode.
type Receive func(t *testing.T, want int, timeout time.Duration) []Message

// Harness describes the implementation under test.
type Harness struct {
	// New returns the notifier to test and the receiving end of one
	// subscriber that gets everything it publishes. It is called once per
	// subtest; subtests do not run in parallel.
	New func(t *testing.T) (core.Notifier, Receive)
	// Wait bounds how long a message may take to arrive (0 = 10 s).
	Wait time.Duration
	// Quiet is how long the suite listens for messages that should not come
	// (0 = 1 s).
	Quiet time.Duration
}

// The attributes every delivery carries.
const (
	AttrEventType   = "event_type"
	AttrRecipientID = "recipient_id"
)

// Run runs the contract suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("notifytest: Harness.New is nil")
	}
	if h.Wait == 0 {
		h.Wait = 10 * time.Second
	}
	if h.Quiet == 0 {
		h.Quiet = time.Second
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness, n core.Notifier, recv Receive)
	}{
		{"PublishOne", testPublishOne},
		{"Several", testSeveral},
		{"Concurrent", testConcurrent},
		{"EmptyOptionalFields", testEmptyOptional},
		{"SpecialCharacters", testSpecialCharacters},
		{"Refused", testRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, recv := h.New(t)
			tt.fn(t, h, n, recv)
		})
	}
}

// sample returns a notification with every field set. CreatedAt has
// nanoseconds and a zone other than UTC, so that a transport that rounds or
// mangles times shows.
func sample(i int) core.Notification {
	zone := time.FixedZone("UTC+2", 2*60*60)
	return core.Notification{
		ID:          core.NewID("nt"),
		RecipientID: fmt.Sprintf("patient-%d", i),
		Type:        "session_created",
		ShareID:     core.NewID("sh"),
		CreatedAt:   time.Date(2026, 3, 1, 14, 30, 15, 123456789+i, zone),
		Data:        map[string]string{"share_id": "sh_x", "photo_count": fmt.Sprint(i)},
	}
}

// wantAttributes is what every delivery of n carries beside its body.
func wantAttributes(n core.Notification) map[string]string {
	return map[string]string{AttrEventType: n.Type, AttrRecipientID: n.RecipientID}
}

// opts compares notifications as a subscriber would: the same instant is the
// same time whatever its zone, and an empty Data is no Data.
var opts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
	cmpopts.EquateEmpty(),
}

func publish(t *testing.T, n core.Notifier, note core.Notification) {
	t.Helper()
	if err := n.Publish(context.Background(), note); err != nil {
		t.Fatalf("Publish(%s) = %v", note.ID, err)
	}
}

// expect receives until every one of want has arrived, then listens for
// h.Quiet more, and checks that each delivery is exactly one of want (by ID,
// with every field and attribute equal). Duplicates are allowed (at least
// once), strangers and losses are not.
func expect(t *testing.T, h Harness, recv Receive, want []core.Notification) {
	t.Helper()
	byID := make(map[string]core.Notification, len(want))
	for _, n := range want {
		byID[n.ID] = n
	}
	seen := make(map[string]int, len(want))
	check := func(msgs []Message) {
		t.Helper()
		for _, m := range msgs {
			w, ok := byID[m.Notification.ID]
			if !ok {
				t.Errorf("received a notification that was not published: %+v", m.Notification)
				continue
			}
			seen[w.ID]++
			if seen[w.ID] > 1 {
				continue // a redelivery; the first was compared
			}
			if diff := cmp.Diff(w, m.Notification, opts); diff != "" {
				t.Errorf("notification %s mismatch (-published +received):\n%s", w.ID, diff)
			}
			if diff := cmp.Diff(wantAttributes(w), m.Attributes); diff != "" {
				t.Errorf("attributes of notification %s mismatch (-want +got):\n%s", w.ID, diff)
			}
		}
	}
	deadline := time.Now().Add(h.Wait)
	for len(seen) < len(want) {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		check(recv(t, len(want)-len(seen), left))
	}
	if len(seen) < len(want) {
		var missing []string
		for id := range byID {
			if seen[id] == 0 {
				missing = append(missing, id)
			}
		}
		slices.Sort(missing)
		t.Fatalf("after %s, received %d of %d notifications; missing %s", h.Wait, len(seen), len(want), strings.Join(missing, ", "))
	}
	check(recv(t, 1, h.Quiet))
	for id, n := range seen {
		if n > 1 {
			t.Logf("notification %s delivered %d times (allowed: at least once)", id, n)
		}
	}
}

func testPublishOne(t *testing.T, h Harness, n core.Notifier, recv Receive) {
	note := sample(1)
	publish(t, n, note)
	expect(t, h, recv, []core.Notification{note})
}

func testSeveral(t *testing.T, h Harness, n core.Notifier, recv Receive) {
	types := []string{"session_created", "session_revoked", "suspicious_activity", "views_exhausted", "session_expired"}
	var notes []core.Notification
	for i, typ := range types {
		note := sample(i)
		note.Type = typ
		note.RecipientID = "patient-" + fmt.Sprint(i%2)
		notes = append(notes, note)
		publish(t, n, note)
	}
	expect(t, h, recv, notes)
}

func testConcurrent(t *testing.T, h Harness, n core.Notifier, recv Receive) {
	const goroutines, each = 20, 5
	notes := make([]core.Notification, goroutines*each)
	for i := range notes {
		notes[i] = sample(i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(notes))
	for g := range goroutines {
		wg.Go(func() {
			for _, note := range notes[g*each : (g+1)*each] {
				if err := n.Publish(context.Background(), note); err != nil {
					errs <- fmt.Errorf("goroutine %d: Publish(%s): %w", g, note.ID, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	expect(t, h, recv, notes)
}

func testEmptyOptional(t *testing.T, h Harness, n core.Notifier, recv Receive) {
	noShare := sample(1)
	noShare.ShareID = ""
	noData := sample(2)
	noData.Data = nil
	emptyData := sample(3)
	emptyData.Data = map[string]string{}
	emptyValue := sample(4)
	emptyValue.Data = map[string]string{"reason": ""}
	notes := []core.Notification{noShare, noData, emptyData, emptyValue}
	for _, note := range notes {
		publish(t, n, note)
	}
	expect(t, h, recv, notes)
}

func testSpecialCharacters(t *testing.T, h Harness, n core.Notifier, recv Receive) {
	note := sample(1)
	// Ids as core.ValidExternalID allows them.
	note.RecipientID = "Dr.Who_2:x@example.org"
	note.Data = map[string]string{
		"quote":      `say "hi"`,
		"backslash":  `a\b\\c`,
		"newline":    "line1\nline2\r\n\ttab",
		"html":       "<script>&amp;</script>",
		"unicode":    "Zoë – 東京 – 🩺",
		"json":       `{"default":"x","data":{}}`,
		"url":        "a=b&c=d?e#f%20g+h",
		"control":    "\x00\x01\x1f\x7f",
		"empty":      "",
		"key with =": "value; with , separators",
		"😀":          "emoji key",
	}
	publish(t, n, note)
	expect(t, h, recv, []core.Notification{note})
}

func testRefused(t *testing.T, h Harness, n core.Notifier, recv Receive) {
	tests := []struct {
		name   string
		mutate func(*core.Notification)
	}{
		{"no id", func(n *core.Notification) { n.ID = "" }},
		{"no recipient", func(n *core.Notification) { n.RecipientID = "" }},
		{"no type", func(n *core.Notification) { n.Type = "" }},
		{"no time", func(n *core.Notification) { n.CreatedAt = time.Time{} }},
		{"invalid UTF-8 in a data value", func(n *core.Notification) { n.Data = map[string]string{"k": "a\xffb"} }},
		{"invalid UTF-8 in a data key", func(n *core.Notification) { n.Data = map[string]string{"\xc3": "v"} }},
		{"invalid UTF-8 in the type", func(n *core.Notification) { n.Type = "session\xfe" }},
	}
	for _, tt := range tests {
		note := sample(1)
		tt.mutate(&note)
		if err := n.Publish(context.Background(), note); core.KindOf(err) != core.KindInternal || err == nil {
			t.Errorf("Publish of a notification with %s = %v, want KindInternal", tt.name, err)
		}
	}
	if msgs := recv(t, 1, h.Quiet); len(msgs) != 0 {
		t.Errorf("refused notifications were delivered: %d messages", len(msgs))
	}
	// The notifier still works.
	note := sample(2)
	publish(t, n, note)
	expect(t, h, recv, []core.Notification{note})
}

// Collector is a Receive for notifiers that hand deliveries to a callback:
// pass Add as the callback (it is safe for concurrent use) and Receive to the
// harness.
type Collector struct {
	mu      sync.Mutex
	pending []Message
	arrived chan struct{} // signalled (non-blocking) on every Add
}

// NewCollector returns an empty collector.
func NewCollector() *Collector { return &Collector{arrived: make(chan struct{}, 1)} }

// Add records one delivery. It copies the attributes.
func (c *Collector) Add(m Message) {
	m.Attributes = maps.Clone(m.Attributes)
	c.mu.Lock()
	c.pending = append(c.pending, m)
	c.mu.Unlock()
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

// Receive is the collector's Receive.
func (c *Collector) Receive(t *testing.T, want int, timeout time.Duration) []Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		if len(c.pending) >= want {
			out := c.pending
			c.pending = nil
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		select {
		case <-c.arrived:
		case <-timer.C:
			c.mu.Lock()
			out := c.pending
			c.pending = nil
			c.mu.Unlock()
			return out
		}
	}
}
