// Package awsruntime assembles the AWS runtime in one piece: every SDK client
// built from one configuration (LoadDefaultConfig's, which honours
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, so emulators need no
// special code), the DynamoDB, S3, KMS and SNS adapters, and the service. The
// `medshare` commands and the tests use it. The Lambda functions do not: each
// links only the clients its operation uses (package lambdafn).
package awsruntime

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/medshare/medshare/shared/blob/s3blob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/keyring/kmskeys"
	"github.com/medshare/medshare/shared/notify/snsnotify"
	"github.com/medshare/medshare/shared/runtime/awsenv"
	"github.com/medshare/medshare/shared/store/dynamostore"
)

// Environment variables of the AWS backend (package awsenv reads them).
const (
	EnvTable     = awsenv.EnvTable     // DynamoDB table name
	EnvBucket    = awsenv.EnvBucket    // S3 bucket of objects
	EnvKeyID     = awsenv.EnvKeyID     // KMS key id, ARN or alias that wraps data keys
	EnvTopicARN  = awsenv.EnvTopicARN  // SNS topic of notifications
	EnvPathStyle = awsenv.EnvPathStyle // "true" for S3 endpoints without virtual hosts (emulators)
)

// Settings name the resources the runtime uses.
type Settings = awsenv.Settings

// SettingsFromEnv reads Settings; every name is required.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	return awsenv.SettingsFromEnv(getenv)
}

// Clients are the SDK clients, built once per cold start.
type Clients struct {
	DynamoDB  *dynamodb.Client
	S3        *s3.Client
	Presigner *s3.PresignClient
	KMS       *kms.Client
	SNS       *sns.Client
}

// NewClients builds every client from one configuration.
func NewClients(cfg aws.Config, pathStyle bool) Clients {
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	return Clients{
		DynamoDB:  dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.Retryer = awsenv.DynamoDBRetryer() }),
		S3:        s3c,
		Presigner: s3.NewPresignClient(s3c),
		KMS:       kms.NewFromConfig(cfg),
		SNS:       sns.NewFromConfig(cfg),
	}
}

// Runtime is the production adapters and the service.
type Runtime struct {
	Clients  Clients
	Store    *dynamostore.Store
	Blobs    *s3blob.Store
	Keys     *kmskeys.Ring
	Notifier *snsnotify.Notifier
	Service  *core.Service
}

// New builds the adapters and the service on the given clients. now is the
// service's clock; nil means time.Now (tests pass a settable one).
func New(c Clients, s Settings, cfg core.Config, now func() time.Time) (*Runtime, error) {
	blobs, err := s3blob.New(c.S3, c.Presigner, s.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3 adapter: %w", err)
	}
	keys, err := kmskeys.New(c.KMS, s.KeyID)
	if err != nil {
		return nil, fmt.Errorf("kms adapter: %w", err)
	}
	notifier, err := snsnotify.New(c.SNS, s.TopicARN)
	if err != nil {
		return nil, fmt.Errorf("sns adapter: %w", err)
	}
	rt := &Runtime{Clients: c, Store: dynamostore.New(c.DynamoDB, s.Table), Blobs: blobs, Keys: keys, Notifier: notifier}
	rt.Service = core.NewService(cfg, core.Deps{Store: rt.Store, Blobs: rt.Blobs, Keys: rt.Keys, Notifier: rt.Notifier, Now: now})
	return rt, nil
}

// Open loads the default AWS configuration and builds the runtime from the
// environment.
func Open(ctx context.Context, cfg aws.Config, getenv func(string) string, svc core.Config) (*Runtime, error) {
	s, err := SettingsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return New(NewClients(cfg, s.PathStyle), s, svc, nil)
}
