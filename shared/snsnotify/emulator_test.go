package snsnotify_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/notifytest"
	"github.com/medshare/medshare/shared/snsnotify"
)

// awsConfig returns the configuration of the local emulators, from the
// environment (AWS_ENDPOINT_URL_SNS and _SQS, AWS_REGION, credentials). It
// skips the test unless MEDSHARE_AWS_EMULATORS=1, and fails instead when
// MEDSHARE_REQUIRE_AWS=1.
func awsConfig(t testing.TB) aws.Config {
	t.Helper()
	if os.Getenv("MEDSHARE_AWS_EMULATORS") != "1" {
		if os.Getenv("MEDSHARE_REQUIRE_AWS") == "1" {
			t.Fatal("MEDSHARE_REQUIRE_AWS=1 but MEDSHARE_AWS_EMULATORS is not 1")
		}
		t.Skip("set MEDSHARE_AWS_EMULATORS=1 and AWS_ENDPOINT_URL_SNS and _SQS to run against the SNS/SQS emulator")
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load aws config: %v", err)
	}
	return cfg
}

// uniqueName returns a fresh topic- and queue-safe name starting with prefix.
func uniqueName(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("read random bytes: %v", err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// sqsQuery is a minimal SQS client speaking the query protocol (form posts,
// XML answers), signed with SigV4. The SDK's SQS client speaks only the JSON
// protocol since 2024, which GoAws v0.4.5 does not understand; AWS answers
// both.
type sqsQuery struct {
	endpoint string // where requests go; GoAws's queue URLs name no usable host
	region   string
	creds    aws.CredentialsProvider
	signer   *v4.Signer
}

func newSQSQuery(t testing.TB, cfg aws.Config) *sqsQuery {
	t.Helper()
	endpoint := os.Getenv("AWS_ENDPOINT_URL_SQS")
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint
	}
	if endpoint == "" {
		endpoint = "https://sqs." + cfg.Region + ".amazonaws.com"
	}
	return &sqsQuery{endpoint: strings.TrimSuffix(endpoint, "/") + "/", region: cfg.Region, creds: cfg.Credentials, signer: v4.NewSigner()}
}

// sqsError is the error document of the query protocol.
type sqsError struct {
	Code    string `xml:"Error>Code"`
	Message string `xml:"Error>Message"`
}

func (c *sqsQuery) call(ctx context.Context, action string, params url.Values, out any) error {
	params.Set("Action", action)
	params.Set("Version", "2012-11-05")
	body := params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("sqs %s: credentials: %w", action, err)
	}
	sum := sha256.Sum256([]byte(body))
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sqs", c.region, time.Now()); err != nil {
		return fmt.Errorf("sqs %s: sign: %w", action, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("sqs %s: %w", action, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("sqs %s: read answer: %w", action, err)
	}
	if resp.StatusCode/100 != 2 {
		var e sqsError
		_ = xml.Unmarshal(b, &e)
		return fmt.Errorf("sqs %s: status %d: %s %s", action, resp.StatusCode, e.Code, e.Message)
	}
	if out == nil {
		return nil
	}
	if err := xml.Unmarshal(b, out); err != nil {
		return fmt.Errorf("sqs %s: decode answer: %w", action, err)
	}
	return nil
}

// createQueue creates a queue that topicARN may send to and returns its URL
// and ARN.
func (c *sqsQuery) createQueue(ctx context.Context, name, topicARN string) (queueURL, queueARN string, err error) {
	var created struct {
		URL string `xml:"CreateQueueResult>QueueUrl"`
	}
	if err := c.call(ctx, "CreateQueue", url.Values{"QueueName": {name}}, &created); err != nil {
		return "", "", err
	}
	var attrs struct {
		Attrs []struct {
			Name  string `xml:"Name"`
			Value string `xml:"Value"`
		} `xml:"GetQueueAttributesResult>Attribute"`
	}
	if err := c.call(ctx, "GetQueueAttributes", url.Values{"QueueUrl": {created.URL}, "AttributeName.1": {"QueueArn"}}, &attrs); err != nil {
		return "", "", err
	}
	for _, a := range attrs.Attrs {
		if a.Name == "QueueArn" {
			queueARN = a.Value
		}
	}
	if queueARN == "" {
		return "", "", fmt.Errorf("sqs GetQueueAttributes: no QueueArn for %s", name)
	}
	// On AWS the topic needs the queue's leave to send to it; GoAws ignores
	// the policy.
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":%q,"Condition":{"ArnEquals":{"aws:SourceArn":%q}}}]}`, queueARN, topicARN)
	if err := c.call(ctx, "SetQueueAttributes", url.Values{"QueueUrl": {created.URL}, "Attribute.1.Name": {"Policy"}, "Attribute.1.Value": {policy}}, nil); err != nil {
		return "", "", err
	}
	return created.URL, queueARN, nil
}

// received is one SQS message.
type received struct {
	Body          string `xml:"Body"`
	ReceiptHandle string `xml:"ReceiptHandle"`
	Attrs         []struct {
		Name        string `xml:"Name"`
		DataType    string `xml:"Value>DataType"`
		StringValue string `xml:"Value>StringValue"`
	} `xml:"MessageAttribute"`
}

// receive long-polls the queue for up to a second, and deletes what it got.
func (c *sqsQuery) receive(ctx context.Context, queueURL string) ([]received, error) {
	var out struct {
		Messages []received `xml:"ReceiveMessageResult>Message"`
	}
	if err := c.call(ctx, "ReceiveMessage", url.Values{
		"QueueUrl":               {queueURL},
		"MaxNumberOfMessages":    {"10"},
		"WaitTimeSeconds":        {"1"},
		"MessageAttributeName.1": {"All"},
	}, &out); err != nil {
		return nil, err
	}
	for _, m := range out.Messages {
		if err := c.call(ctx, "DeleteMessage", url.Values{"QueueUrl": {queueURL}, "ReceiptHandle": {m.ReceiptHandle}}, nil); err != nil {
			return nil, err
		}
	}
	return out.Messages, nil
}

// subscription is a topic with one queue subscribed to it.
type subscription struct {
	notifier *snsnotify.Notifier
	topicARN string
	receive  notifytest.Receive
}

// newTopic creates a topic for one test and deletes it when the test ends.
func newTopic(t *testing.T, client *sns.Client) string {
	t.Helper()
	out, err := client.CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String(uniqueName(t, "medshare-test"))})
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
// delivery (and filterPolicy when not empty), and returns its Receive.
func subscribeQueue(t *testing.T, cfg aws.Config, client *sns.Client, topicARN, filterPolicy string) notifytest.Receive {
	t.Helper()
	ctx := context.Background()
	q := newSQSQuery(t, cfg)
	queueURL, queueARN, err := q.createQueue(ctx, uniqueName(t, "medshare-test"), topicARN)
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	t.Cleanup(func() {
		if err := q.call(context.Background(), "DeleteQueue", url.Values{"QueueUrl": {queueURL}}, nil); err != nil {
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
			msgs, err := q.receive(ctx, queueURL)
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			for _, m := range msgs {
				n, err := snsnotify.Decode([]byte(m.Body))
				if err != nil {
					t.Fatalf("message body %q: %v", m.Body, err)
				}
				attrs := make(map[string]string, len(m.Attrs))
				for _, a := range m.Attrs {
					if a.DataType != "String" {
						t.Errorf("attribute %s has data type %q, want String", a.Name, a.DataType)
					}
					attrs[a.Name] = a.StringValue
				}
				got = append(got, notifytest.Message{Notification: n, Attributes: attrs})
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
	cfg := awsConfig(t)
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
	cfg := awsConfig(t)
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
	cfg := awsConfig(t)
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
