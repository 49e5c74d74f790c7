package snsnotify_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/notify/notifytest"
	"github.com/medshare/medshare/shared/notify/snsnotify"
)

const topicARN = "arn:aws:sns:us-east-1:111122223333:medshare-notifications"

// fakeSNS records what is published, or fails with err.
type fakeSNS struct {
	mu        sync.Mutex
	published []*sns.PublishInput
	err       error
	deliver   func(*sns.PublishInput) // called for each accepted message
}

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.mu.Lock()
	f.published = append(f.published, in)
	f.mu.Unlock()
	if f.deliver != nil {
		f.deliver(in)
	}
	return &sns.PublishOutput{MessageId: aws.String("m-1")}, nil
}

func newNotifier(t *testing.T, f *fakeSNS) *snsnotify.Notifier {
	t.Helper()
	n, err := snsnotify.New(f, topicARN)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

func TestPublishRequest(t *testing.T) {
	tests := []struct {
		name string
		n    core.Notification
		body string
	}{
		{
			"every field",
			core.Notification{
				ID:          "nt_1",
				RecipientID: "patient-1",
				Type:        "session_revoked",
				ShareID:     "sh_1",
				CreatedAt:   time.Date(2026, 3, 1, 14, 30, 15, 123456789, time.FixedZone("UTC+2", 2*60*60)),
				Data:        map[string]string{"reason": "patient", "a<b": "x&y"},
			},
			`{"notification_id":"nt_1","recipient_id":"patient-1","type":"session_revoked","share_id":"sh_1",` +
				`"created_at":"2026-03-01T12:30:15.123456789Z","data":{"a\u003cb":"x\u0026y","reason":"patient"}}`,
		},
		{
			"optional fields empty",
			core.Notification{ID: "nt_2", RecipientID: "pro-1", Type: "session_created", CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
			`{"notification_id":"nt_2","recipient_id":"pro-1","type":"session_created","share_id":"",` +
				`"created_at":"2026-03-01T12:00:00Z","data":{}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSNS{}
			if err := newNotifier(t, f).Publish(context.Background(), tt.n); err != nil {
				t.Fatalf("Publish = %v", err)
			}
			if len(f.published) != 1 {
				t.Fatalf("published %d messages, want 1", len(f.published))
			}
			in := f.published[0]
			if got := aws.ToString(in.TopicArn); got != topicARN {
				t.Errorf("TopicArn = %q, want %q", got, topicARN)
			}
			if got := aws.ToString(in.Message); got != tt.body {
				t.Errorf("Message =\n%s\nwant\n%s", got, tt.body)
			}
			want := map[string]types.MessageAttributeValue{
				"event_type":   {DataType: aws.String("String"), StringValue: aws.String(tt.n.Type)},
				"recipient_id": {DataType: aws.String("String"), StringValue: aws.String(tt.n.RecipientID)},
			}
			if diff := cmp.Diff(want, in.MessageAttributes, cmp.AllowUnexported(types.MessageAttributeValue{})); diff != "" {
				t.Errorf("MessageAttributes mismatch (-want +got):\n%s", diff)
			}
			if in.Subject != nil || in.MessageStructure != nil || in.MessageGroupId != nil {
				t.Errorf("Publish set Subject, MessageStructure or MessageGroupId; want only the body and attributes")
			}
		})
	}
}

// TestContractOnFake runs the suite with SNS replaced by a loopback that
// decodes each published message as a raw-delivery subscriber would: it
// checks the encoding, the attributes and the validation in every go test,
// the emulator checking the transport.
func TestContractOnFake(t *testing.T) {
	notifytest.Run(t, notifytest.Harness{
		New: func(t *testing.T) (core.Notifier, notifytest.Receive) {
			c := notifytest.NewCollector()
			f := &fakeSNS{deliver: func(in *sns.PublishInput) {
				n, err := snsnotify.Decode([]byte(aws.ToString(in.Message)))
				if err != nil {
					t.Errorf("decode published body: %v", err)
					return
				}
				attrs := make(map[string]string)
				for k, v := range in.MessageAttributes {
					attrs[k] = aws.ToString(v.StringValue)
				}
				c.Add(notifytest.Message{Notification: n, Attributes: attrs})
			}}
			return newNotifier(t, f), c.Receive
		},
		Quiet: 50 * time.Millisecond,
	})
}

// apiError is what the SDK returns for an SNS error response.
func apiError(status int, err error) error { return awstest.APIError("SNS", "Publish", status, err) }

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want core.Kind
	}{
		{"throttled", apiError(400, &types.ThrottledException{}), core.KindUnavailable},
		{"internal error", apiError(500, &types.InternalErrorException{}), core.KindUnavailable},
		{"kms throttling", apiError(400, &types.KMSThrottlingException{}), core.KindUnavailable},
		{"unknown 503", apiError(503, &smithy.GenericAPIError{Code: "ServiceUnavailable"}), core.KindUnavailable},
		{"throttling code", apiError(400, &smithy.GenericAPIError{Code: "Throttling"}), core.KindUnavailable},
		{"connection refused", &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}}, core.KindUnavailable},
		{"deadline", context.DeadlineExceeded, core.KindUnavailable},
		{"canceled", &aws.RequestCanceledError{Err: context.Canceled}, core.KindUnavailable},
		{"invalid parameter", apiError(400, &types.InvalidParameterException{}), core.KindInternal},
		{"invalid value", apiError(400, &types.InvalidParameterValueException{}), core.KindInternal},
		{"topic not found", apiError(404, &types.NotFoundException{}), core.KindInternal},
		{"authorization", apiError(403, &types.AuthorizationErrorException{}), core.KindInternal},
		{"kms disabled", apiError(400, &types.KMSDisabledException{}), core.KindInternal},
		{"unknown", errors.New("boom"), core.KindInternal},
	}
	note := core.Notification{ID: "nt_1", RecipientID: "patient-1", Type: "session_created", CreatedAt: time.Now()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newNotifier(t, &fakeSNS{err: tt.err}).Publish(context.Background(), note)
			if err == nil || core.KindOf(err) != tt.want {
				t.Errorf("Publish = %v, want kind %v", err, tt.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, body := range []string{``, `null`, `[]`, `{"type":"x"}`, `{"notification_id":"nt_1"}`, `{"notification_id":"nt_1","type":"x","created_at":"yesterday"}`} {
		if n, err := snsnotify.Decode([]byte(body)); err == nil {
			t.Errorf("Decode(%q) = %+v, want an error", body, n)
		}
	}
}

func TestNewRequiresClientAndTopic(t *testing.T) {
	if _, err := snsnotify.New(nil, topicARN); err == nil {
		t.Errorf("New(nil, topic) succeeded")
	}
	if _, err := snsnotify.New(&fakeSNS{}, ""); err == nil {
		t.Errorf("New(client, \"\") succeeded")
	}
}
