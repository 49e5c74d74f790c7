package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Events is the topic of notifications (snsnotify publishes each one with
// its event_type and recipient_id attributes; messages hold ids only).
type Events struct {
	constructs.Construct
	Topic awssns.Topic
}

// NewEvents creates the topic, encrypted with key, and refuses publishers
// that do not use TLS.
func NewEvents(scope constructs.Construct, id string, key awskms.IKey) *Events {
	c := constructs.NewConstruct(scope, jsii.String(id))
	topic := awssns.NewTopic(c, jsii.String("Notifications"), &awssns.TopicProps{
		DisplayName: jsii.String("MedShare notifications"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	return &Events{Construct: c, Topic: topic}
}
