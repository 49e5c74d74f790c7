package snsnotify_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/notify/notifytest"
	"github.com/medshare/medshare/shared/notify/snsnotify"
)

// subscription is a topic with one queue subscribed to it.
type subscription struct {
	notifier *snsnotify.Notifier
	topicARN string
	receive  notifytest.Receive
}

// newTopic creates a topic for one test and deletes it when the test ends.
func newTopic(t *testing.T, client *sns.Client) string {
	t.Helper()
	out, err := client.CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String(awstest.UniqueName(t, "medshare-test"))})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	arn := aws.ToString(out.TopicArn)
	t.Cleanup(func() {
		if _, err := client.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil {
			t.Errorf("delete topic %s: %v", arn, err)
		}
	})
	return arn
}

// subscribeQueue creates a queue, subscribes it to topicARN with raw message
// delivery (and filterPolicy when not empty), and returns its Receive. The
// queue has no policy letting the topic send to it: GoAws does not check
// one, and awstest runs only against the emulators.
func subscribeQueue(t *testing.T, cfg aws.Config, client *sns.Client, topicARN, filterPolicy string) notifytest.Receive {
	t.Helper()
	ctx := context.Background()
	q := awstest.NewSQS(t, cfg)
	queueURL, queueARN, err := q.CreateQueue(ctx, awstest.UniqueName(t, "medshare-test"))
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	t.Cleanup(func() {
		if err := q.DeleteQueue(context.Background(), queueURL); err != nil {
			t.Errorf("delete queue: %v", err)
		}
	})
	attrs := map[string]string{"RawMessageDelivery": "true"}
	if filterPolicy != "" {
		attrs["FilterPolicy"] = filterPolicy
	}
	sub, err := client.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn:              aws.String(topicARN),
		Protocol:              aws.String("sqs"),
		Endpoint:              aws.String(queueARN),
		Attributes:            attrs,
		ReturnSubscriptionArn: true,
	})
	if err != nil {
		t.Fatalf("subscribe queue: %v", err)
	}
	t.Cleanup(func() {
		if _, err := client.Unsubscribe(context.Background(), &sns.UnsubscribeInput{SubscriptionArn: sub.SubscriptionArn}); err != nil {
			t.Errorf("unsubscribe: %v", err)
		}
	})
	return func(t *testing.T, want int, timeout time.Duration) []notifytest.Message {
		t.Helper()
		var got []notifytest.Message
		deadline := time.Now().Add(timeout)
		for len(got) < want && time.Now().Before(deadline) {
			// Long-poll for up to a second, and delete what arrived.
			msgs, err := q.Receive(ctx, queueURL, 10, time.Second)
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			for _, m := range msgs {
				if err := q.DeleteMessage(ctx, queueURL, m.ReceiptHandle); err != nil {
					t.Fatalf("delete message: %v", err)
				}
			}
			for _, m := range msgs {
				n, err := snsnotify.Decode([]byte(m.Body))
				if err != nil {
					t.Fatalf("message body %q: %v", m.Body, err)
				}
				for name, typ := range m.AttributeTypes {
					if typ != "String" {
						t.Errorf("attribute %s has data type %q, want String", name, typ)
					}
				}
				got = append(got, notifytest.Message{Notification: n, Attributes: m.Attributes})
			}
		}
		return got
	}
}

func newSubscription(t *testing.T, cfg aws.Config, client *sns.Client) subscription {
	t.Helper()
	topicARN := newTopic(t, client)
	n, err := snsnotify.New(client, topicARN)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return subscription{notifier: n, topicARN: topicARN, receive: subscribeQueue(t, cfg, client, topicARN, "")}
}

func TestContract(t *testing.T) {
	cfg := awstest.Config(t)
	client := sns.NewFromConfig(cfg)
	notifytest.Run(t, notifytest.Harness{
		New: func(t *testing.T) (core.Notifier, notifytest.Receive) {
			s := newSubscription(t, cfg, client)
			return s.notifier, s.receive
		},
	})
}

// TestFilterOnAttributes checks that a subscription can select
// notifications by event_type without reading their bodies.
func TestFilterOnAttributes(t *testing.T) {
	cfg := awstest.Config(t)
	client := sns.NewFromConfig(cfg)
	s := newSubscription(t, cfg, client)
	alerts := subscribeQueue(t, cfg, client, s.topicARN, `{"event_type":["suspicious_activity"]}`)
	ctx := context.Background()
	base := core.Notification{RecipientID: "patient-1", CreatedAt: time.Now().UTC()}
	var published []string
	for _, typ := range []string{"session_created", "suspicious_activity", "session_revoked"} {
		n := base
		n.ID, n.Type = core.NewID("nt"), typ
		if err := s.notifier.Publish(ctx, n); err != nil {
			t.Fatalf("Publish(%s) = %v", typ, err)
		}
		published = append(published, typ)
	}
	var all, filtered []string
	for _, m := range s.receive(t, 3, 10*time.Second) {
		all = append(all, m.Notification.Type)
	}
	for _, m := range alerts(t, 2, 3*time.Second) {
		filtered = append(filtered, m.Notification.Type)
	}
	sortStrings := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	if diff := cmp.Diff(published, all, sortStrings); diff != "" {
		t.Errorf("unfiltered subscription mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"suspicious_activity"}, filtered); diff != "" {
		t.Errorf("filtered subscription mismatch (-want +got):\n%s", diff)
	}
}

// TestMissingTopic checks that publishing to a topic that does not exist is
// a deployment bug, not a passing failure.
func TestMissingTopic(t *testing.T) {
	cfg := awstest.Config(t)
	client := sns.NewFromConfig(cfg)
	topicARN := newTopic(t, client)
	n, err := snsnotify.New(client, topicARN+"-missing")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	note := core.Notification{ID: core.NewID("nt"), RecipientID: "patient-1", Type: "session_created", CreatedAt: time.Now()}
	if err := n.Publish(context.Background(), note); !core.IsKind(err, core.KindInternal) {
		t.Errorf("Publish to a missing topic = %v, want KindInternal", err)
	}
}
