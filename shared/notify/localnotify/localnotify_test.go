package localnotify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/notify/localnotify"
	"github.com/medshare/medshare/shared/notify/notifytest"
)

func TestContract(t *testing.T) {
	notifytest.Run(t, notifytest.Harness{
		New: func(t *testing.T) (core.Notifier, notifytest.Receive) {
			n := localnotify.New(0)
			c := notifytest.NewCollector()
			t.Cleanup(n.Subscribe(func(m localnotify.Message) {
				c.Add(notifytest.Message{Notification: m.Notification, Attributes: m.Attributes})
			}))
			return n, c.Receive
		},
		Quiet: 50 * time.Millisecond,
	})
}

func note(i int) core.Notification {
	return core.Notification{
		ID:          fmt.Sprintf("nt_%d", i),
		RecipientID: "patient-1",
		Type:        "session_created",
		CreatedAt:   time.Unix(int64(i), 0).UTC(),
		Data:        map[string]string{"i": fmt.Sprint(i)},
	}
}

func ids(msgs []localnotify.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Notification.ID
	}
	return out
}

func TestRecentIsBounded(t *testing.T) {
	n := localnotify.New(3)
	ctx := context.Background()
	if got := n.Recent(); len(got) != 0 {
		t.Errorf("Recent() of a new notifier = %v, want none", ids(got))
	}
	for i := range 2 {
		if err := n.Publish(ctx, note(i)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if diff := cmp.Diff([]string{"nt_0", "nt_1"}, ids(n.Recent())); diff != "" {
		t.Errorf("Recent() mismatch (-want +got):\n%s", diff)
	}
	for i := 2; i < 7; i++ {
		if err := n.Publish(ctx, note(i)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if diff := cmp.Diff([]string{"nt_4", "nt_5", "nt_6"}, ids(n.Recent())); diff != "" {
		t.Errorf("Recent() after overflow mismatch (-want +got):\n%s", diff)
	}
}

func TestCopies(t *testing.T) {
	n := localnotify.New(0)
	var got []localnotify.Message
	n.Subscribe(func(m localnotify.Message) {
		m.Notification.Data["i"] = "changed by a subscriber"
		got = append(got, m)
	})
	in := note(1)
	if err := n.Publish(context.Background(), in); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	in.Data["i"] = "changed by the publisher"
	if v := n.Recent()[0].Notification.Data["i"]; v != "1" {
		t.Errorf("Recent() holds data %q, want the published %q", v, "1")
	}
	if len(got) != 1 {
		t.Fatalf("subscriber got %d messages, want 1", len(got))
	}
}

func TestUnsubscribe(t *testing.T) {
	n := localnotify.New(0)
	var a, b int
	stopA := n.Subscribe(func(localnotify.Message) { a++ })
	n.Subscribe(func(localnotify.Message) { b++ })
	ctx := context.Background()
	_ = n.Publish(ctx, note(1))
	stopA()
	stopA() // twice is harmless
	_ = n.Publish(ctx, note(2))
	if a != 1 || b != 2 {
		t.Errorf("deliveries = %d and %d, want 1 (unsubscribed after one) and 2", a, b)
	}
}

func TestSubscriberMayPublish(t *testing.T) {
	n := localnotify.New(0)
	n.Subscribe(func(m localnotify.Message) {
		if m.Notification.ID == "nt_1" {
			if err := n.Publish(context.Background(), note(2)); err != nil {
				t.Errorf("Publish from a subscriber: %v", err)
			}
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = n.Publish(context.Background(), note(1))
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish from a subscriber deadlocked")
	}
	if diff := cmp.Diff([]string{"nt_1", "nt_2"}, ids(n.Recent())); diff != "" {
		t.Errorf("Recent() mismatch (-want +got):\n%s", diff)
	}
}

func TestCanceledContext(t *testing.T) {
	n := localnotify.New(0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Publish(ctx, note(1)); !core.IsKind(err, core.KindUnavailable) {
		t.Errorf("Publish with a canceled context = %v, want KindUnavailable", err)
	}
	if got := n.Recent(); len(got) != 0 {
		t.Errorf("Recent() = %v after a refused publish, want none", ids(got))
	}
}
