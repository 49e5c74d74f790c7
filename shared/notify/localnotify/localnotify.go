// Package localnotify is the embedded core.Notifier: it keeps the most recent
// notifications in memory, in a bounded buffer, and hands each one to the
// subscribers registered in the process, as SNS hands them to its
// subscriptions.
package localnotify

import (
	"context"
	"maps"
	"sync"

	"github.com/medshare/medshare/shared/core"
)

var _ core.Notifier = (*Notifier)(nil)

// DefaultCapacity is the number of notifications Recent keeps when New is
// given no capacity.
const DefaultCapacity = 1024

// The attributes of every message, named as the SNS adapter names its
// message attributes, so that a subscriber filters alike on both.
const (
	AttrEventType   = "event_type"
	AttrRecipientID = "recipient_id"
)

// Message is one published notification as subscribers see it, with the
// attributes they may filter on: event_type (the notification's Type) and
// recipient_id.
type Message struct {
	Notification core.Notification
	Attributes   map[string]string
}

// Notifier is the in-process notifier. It is safe for concurrent use.
type Notifier struct {
	mu      sync.Mutex
	ring    []Message // the most recent messages; next is the oldest once full
	next    int
	full    bool
	subs    map[int]func(Message)
	lastSub int
}

// New returns a notifier that keeps the last capacity notifications
// (DefaultCapacity when capacity <= 0).
func New(capacity int) *Notifier {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Notifier{ring: make([]Message, capacity), subs: make(map[int]func(Message))}
}

// Publish records the notification and hands it to every subscriber, in the
// calling goroutine, before it returns: a nil error means every subscriber
// has had it. A notification without ID, RecipientID, Type or CreatedAt, or
// with a string that is not UTF-8, is refused with KindInternal (a bug of the
// caller); a done context with KindUnavailable.
func (n *Notifier) Publish(ctx context.Context, note core.Notification) error {
	if err := note.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return core.ErrUnavailable(err, "publish notification %s", note.ID)
	}
	m := message(note)
	n.mu.Lock()
	n.ring[n.next] = m
	n.next = (n.next + 1) % len(n.ring)
	if n.next == 0 {
		n.full = true
	}
	subs := make([]func(Message), 0, len(n.subs))
	for _, fn := range n.subs {
		subs = append(subs, fn)
	}
	n.mu.Unlock()
	// Outside the lock, so that a subscriber may publish in turn.
	for _, fn := range subs {
		fn(clone(m))
	}
	return nil
}

// Subscribe registers fn to receive every notification published from now
// on, and returns the function that unregisters it. fn is called from the
// publishing goroutine, possibly from several at once: it must be safe for
// concurrent use and must not block for long. Each call gets its own copy of
// the message.
func (n *Notifier) Subscribe(fn func(Message)) (unsubscribe func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lastSub++
	id := n.lastSub
	n.subs[id] = fn
	return func() {
		n.mu.Lock()
		delete(n.subs, id)
		n.mu.Unlock()
	}
}

// Recent returns copies of the most recent notifications, oldest first, at
// most the notifier's capacity.
func (n *Notifier) Recent() []Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ordered []Message
	if n.full {
		ordered = append(ordered, n.ring[n.next:]...)
	}
	ordered = append(ordered, n.ring[:n.next]...)
	out := make([]Message, len(ordered))
	for i, m := range ordered {
		out[i] = clone(m)
	}
	return out
}

func message(note core.Notification) Message {
	return clone(Message{
		Notification: note,
		Attributes:   map[string]string{AttrEventType: note.Type, AttrRecipientID: note.RecipientID},
	})
}

func clone(m Message) Message {
	m.Notification.Data = maps.Clone(m.Notification.Data)
	m.Attributes = maps.Clone(m.Attributes)
	return m
}
