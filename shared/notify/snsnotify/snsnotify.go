// Package snsnotify is the core.Notifier of AWS: each notification is
// published to one SNS standard topic, as a JSON body with two message
// attributes that subscriptions can filter on without reading the body.
//
// # Message
//
// The body is a JSON object, snake_case as the HTTP API, with every key
// present:
//
//	{"notification_id": "nt_…", "recipient_id": "patient-1",
//	 "type": "session_revoked", "share_id": "sh_…" or "",
//	 "created_at": "2026-03-01T12:30:15.123456789Z", "data": {…} or {}}
//
// created_at is RFC 3339 in UTC with nanoseconds. The message attributes are
// event_type (String, the notification's type) and recipient_id (String), so
// that a subscription's filter policy can select, say, {"event_type":
// ["suspicious_activity"]}. With raw message delivery an SQS subscriber gets
// the body as the message body and the attributes as SQS message attributes;
// without it, inside the SNS envelope (Message, MessageAttributes).
//
// Decode turns a body back into a core.Notification for subscribers written
// in Go.
package snsnotify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/runtime/awserr"
)

var _ core.Notifier = (*Notifier)(nil)

// API is the part of the SNS client that the notifier calls; *sns.Client
// satisfies it.
type API interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// The message attributes of every notification.
const (
	AttrEventType   = "event_type"
	AttrRecipientID = "recipient_id"
)

// Body is the JSON body of a published notification.
type Body struct {
	NotificationID string            `json:"notification_id"`
	RecipientID    string            `json:"recipient_id"`
	Type           string            `json:"type"`
	ShareID        string            `json:"share_id"`
	CreatedAt      time.Time         `json:"created_at"`
	Data           map[string]string `json:"data"`
}

// Notifier publishes to one SNS topic. It is safe for concurrent use.
type Notifier struct {
	api   API
	topic string
}

// New returns the notifier that publishes to the standard topic topicARN.
// client is built by the caller from its aws.Config.
func New(client API, topicARN string) (*Notifier, error) {
	if client == nil {
		return nil, errors.New("new sns notifier: client is required")
	}
	if topicARN == "" {
		return nil, errors.New("new sns notifier: topic arn is empty")
	}
	return &Notifier{api: client, topic: topicARN}, nil
}

// Encode returns the JSON body of n.
func Encode(n core.Notification) ([]byte, error) {
	data := n.Data
	if data == nil {
		data = map[string]string{} // "data": {} rather than null
	}
	return json.Marshal(Body{
		NotificationID: n.ID,
		RecipientID:    n.RecipientID,
		Type:           n.Type,
		ShareID:        n.ShareID,
		CreatedAt:      n.CreatedAt.UTC(),
		Data:           data,
	})
}

// Decode parses a body written by Encode. Unknown keys are ignored, so that
// the body may grow.
func Decode(body []byte) (core.Notification, error) {
	var b Body
	if err := json.Unmarshal(body, &b); err != nil {
		return core.Notification{}, fmt.Errorf("decode notification body: %w", err)
	}
	if b.NotificationID == "" || b.Type == "" {
		return core.Notification{}, errors.New("decode notification body: no notification_id or type")
	}
	return core.Notification{
		ID:          b.NotificationID,
		RecipientID: b.RecipientID,
		Type:        b.Type,
		ShareID:     b.ShareID,
		CreatedAt:   b.CreatedAt,
		Data:        b.Data,
	}, nil
}

// Publish publishes n to the topic. A notification without ID, RecipientID,
// Type or CreatedAt, or with a string that is not UTF-8, is refused with
// KindInternal before SNS sees it. SNS throttling or failing, a network
// failure or a done context is KindUnavailable (the message may or may not
// have been accepted: retry, subscribers see at least once); any other
// refusal by SNS (validation, authorization, a missing topic) is
// KindInternal.
func (p *Notifier) Publish(ctx context.Context, n core.Notification) error {
	if err := n.Validate(); err != nil {
		return err
	}
	body, err := Encode(n)
	if err != nil {
		return core.ErrInternal(err, "publish notification %s", n.ID)
	}
	_, err = p.api.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(p.topic),
		Message:  aws.String(string(body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			AttrEventType:   {DataType: aws.String("String"), StringValue: aws.String(n.Type)},
			AttrRecipientID: {DataType: aws.String("String"), StringValue: aws.String(n.RecipientID)},
		},
	})
	if err != nil {
		return awserr.SNS.Translate(err, "publish notification %s", n.ID)
	}
	return nil
}
