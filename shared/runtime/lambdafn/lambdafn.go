// Package lambdafn wires one operation's Lambda function: configuration from
// the environment, AWS clients and adapters built once at cold start, the
// service and the handler. Every functions/<op>/main.go is one call of
// Main (every functions/<job>/main.go of MainJob), which Builds (BuildJob)
// and then Starts the Lambda runtime. Functions
// link only the AWS adapters: the embedded runtime is for `medshare serve`.
//
// # Each function links only the clients it uses
//
// Every function uses DynamoDB, which this package links. The other AWS
// services are each behind a subpackage (s3fn, kmsfn, snsfn, cdnfn) whose
// Link builds that service's client and adapter: a function's main passes
// the Links of the services its operation calls, and its one
// httpapi.Route, and the linker leaves the other services' SDK clients
// and the other operations out of its binary (and the clients' package
// initialization out of its cold start). Uses reads which function uses
// which service from Permissions, the one table of what each function's
// role may call, from which infra/stack builds the roles. `go generate
// ./shared/runtime/lambdafn` writes every functions/*/main.go from it (the genmains
// command), whose
// TestMainsAreGenerated fails when a main differs; Build refuses Links that
// differ from the table. A service a function does not link answers its
// calls with an internal error that names the function and the service.
package lambdafn

//go:generate go run ./genmains

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/runtime/awsenv"
	"github.com/medshare/medshare/shared/runtime/config"
	"github.com/medshare/medshare/shared/store/dynamostore"
)

// The AWS services a function may link beyond DynamoDB, by the name Uses
// and Link.Service give them.
const (
	// S3 is the blob store (s3blob): package s3fn; or, for a function that
	// only presigns downloads and deletes (Access.SignsOnly), the signer
	// alone (s3presign): package s3presignfn.
	S3  = "s3"
	KMS = "kms" // the key ring (kmskeys): package kmsfn
	SNS = "sns" // the notifier (snsnotify): package snsfn
	// CDN serves chat images through CloudFront signed URLs (cdnblob), with
	// the signing key read from Secrets Manager: package cdnfn. It wraps
	// the S3 blob store, so it comes after S3.
	CDN = "cdn"
)

// A Service is one AWS service a function may link, and the package whose
// Link links it.
type Service struct {
	Name    string // as Uses names it
	Package string // the import path of its Link
	Clients string // the SDK clients it links, in words
	// ReadOnly is, for S3, the package of the Link of a function whose
	// S3 access is presigned GETs and deletes (Access.SignsOnly): both
	// signed without the SDK's client. ReadOnlyClients says what it links.
	ReadOnly, ReadOnlyClients string
}

// Services lists the services of Uses in the order a function links them.
var Services = []Service{
	{S3, "github.com/medshare/medshare/shared/runtime/lambdafn/s3fn", "S3",
		"github.com/medshare/medshare/shared/runtime/lambdafn/s3presignfn", "S3's presigned GETs and deletes (the SigV4 signer, not the S3 client)"},
	{KMS, "github.com/medshare/medshare/shared/runtime/lambdafn/kmsfn", "KMS", "", ""},
	{SNS, "github.com/medshare/medshare/shared/runtime/lambdafn/snsfn", "SNS", "", ""},
	{CDN, "github.com/medshare/medshare/shared/runtime/lambdafn/cdnfn", "Secrets Manager (the CloudFront signing key)", "", ""},
}

// Wiring is a function's cold start in progress: what a Link reads, and the
// service's dependencies it fills in.
type Wiring struct {
	Name     string              // the function: an operation or a job
	Getenv   func(string) string // the environment
	Config   aws.Config          // from awsenv.Config
	Settings awsenv.Settings     // the resources, from awsenv.SettingsFromEnv
	Deps     core.Deps           // Store is set before any Link runs
}

// A Link builds one AWS service's client and adapter into a Wiring.
type Link struct {
	Service string // one of Services' names
	// ReadOnly marks the Link of Service.ReadOnly, which Build accepts only
	// for a function whose Access only reads objects.
	ReadOnly bool
	Add      func(ctx context.Context, w *Wiring) error
}

// LinkPackage returns the import path of the Link of service svc for
// function name: svc.ReadOnly when it has one and the function's access
// only reads objects, else svc.Package.
func LinkPackage(name string, svc Service) string {
	if svc.ReadOnly != "" && Permissions()[name].SignsOnly() {
		return svc.ReadOnly
	}
	return svc.Package
}

// Handler is an HTTP API (payload 2.0) Lambda handler.
type Handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Options change how a function is wired, for the tests and commands that
// build functions in one process. The zero value is what every function's
// main builds (Build, BuildJob).
type Options struct {
	// APIOptions are added to the AWS configuration that every client of
	// the function is built from: the IAM test records each SDK call a
	// function makes with a middleware here.
	APIOptions []func(*middleware.Stack) error
	// Log receives the function's log lines; os.Stderr when nil.
	Log io.Writer
}

// Build returns the handler of route, wired from the environment
// (awsenv's AWS configuration and MEDSHARE_TABLE, MEDSHARE_BUCKET,
// MEDSHARE_KMS_KEY_ID, MEDSHARE_TOPIC_ARN, and the service's settings in
// package config) with DynamoDB and links, which must be the services
// Uses(route.Op) lists, in its order. The handler serves that route only:
// the function names no other row of the route table, so it links no other
// operation's code.
func Build(ctx context.Context, route httpapi.Route, getenv func(string) string, links ...Link) (Handler, error) {
	return Options{}.Build(ctx, route, getenv, links...)
}

// Build is Build with these options.
func (o Options) Build(ctx context.Context, route httpapi.Route, getenv func(string) string, links ...Link) (Handler, error) {
	if route.Op == "" {
		return nil, errors.New("build function: a route of httpapi.Routes() is required")
	}
	_, svc, log, err := o.open(ctx, route.Op, getenv, links)
	if err != nil {
		return nil, err
	}
	return httpapi.NewHandler(svc, log).Function(route), nil
}

// JobHandler is a scheduled job's Lambda handler: EventBridge invokes it with
// the schedule's event.
type JobHandler = func(context.Context, events.EventBridgeEvent) (jobs.Result, error)

// BuildJob returns the handler of the scheduled job name (package jobs),
// wired from the environment as Build does. The run is scheduled for the
// event's time, so that a retried event does the same run; an event without
// a time runs for now.
func BuildJob(ctx context.Context, name string, getenv func(string) string, links ...Link) (JobHandler, error) {
	return Options{}.BuildJob(ctx, name, getenv, links...)
}

// BuildJob is BuildJob with these options.
func (o Options) BuildJob(ctx context.Context, name string, getenv func(string) string, links ...Link) (JobHandler, error) {
	if _, ok := jobs.ByName(name); !ok {
		return nil, fmt.Errorf("build function: unknown job %q", name)
	}
	_, svc, log, err := o.open(ctx, name, getenv, links)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ev events.EventBridgeEvent) (jobs.Result, error) {
		at := ev.Time
		if at.IsZero() {
			at = time.Now()
		}
		return jobs.Run(ctx, svc, name, at, log.With("event_id", ev.ID))
	}, nil
}

// Wire builds function name's service at cold start as Build and BuildJob
// do, for the functions that are neither an operation nor a job (Workers),
// whose own package makes their handler from it: the Wiring (the AWS
// configuration and what the links built), the service and the logger.
func Wire(ctx context.Context, name string, getenv func(string) string, links ...Link) (*Wiring, *core.Service, *slog.Logger, error) {
	return Options{}.Wire(ctx, name, getenv, links...)
}

// Wire is Wire with these options.
func (o Options) Wire(ctx context.Context, name string, getenv func(string) string, links ...Link) (*Wiring, *core.Service, *slog.Logger, error) {
	if !slices.Contains(Workers, name) {
		return nil, nil, nil, fmt.Errorf("build function: %q is not a worker", name)
	}
	return o.open(ctx, name, getenv, links)
}

// open builds function name's service at cold start: DynamoDB, then each
// link, and the unlinked services' stand-ins.
func (o Options) open(ctx context.Context, name string, getenv func(string) string, links []Link) (*Wiring, *core.Service, *slog.Logger, error) {
	var got []string
	for _, l := range links {
		got = append(got, l.Service)
		if l.ReadOnly && !Permissions()[name].SignsOnly() {
			return nil, nil, nil, fmt.Errorf("build function %s: it links %s for signed requests only (presigned downloads, deletes), and its access does more (run go generate ./shared/runtime/lambdafn)", name, l.Service)
		}
	}
	if want, _ := Uses(name); !slices.Equal(got, want) {
		return nil, nil, nil, fmt.Errorf("build function %s: it links [%s], lambdafn.Uses says [%s] (run go generate ./shared/runtime/lambdafn)",
			name, strings.Join(got, " "), strings.Join(want, " "))
	}
	cfg, err := config.Service(getenv)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("build function %s: %w", name, err)
	}
	awsCfg, err := awsenv.Config(getenv)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("build function %s: %w", name, err)
	}
	awsCfg.APIOptions = append(awsCfg.APIOptions, o.APIOptions...)
	settings, err := awsenv.SettingsFromEnv(getenv)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("build function %s: %w", name, err)
	}
	store := dynamostore.New(dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = awsenv.Endpoint(getenv, dynamodb.ServiceID)
		o.Retryer = awsenv.DynamoDBRetryer()
	}), settings.Table)
	w := &Wiring{Name: name, Getenv: getenv, Config: awsCfg, Settings: settings,
		Deps: core.Deps{Store: store}}
	for _, l := range links {
		if err := l.Add(ctx, w); err != nil {
			return nil, nil, nil, fmt.Errorf("build function %s: %s: %w", name, l.Service, err)
		}
	}
	if w.Deps.Blobs == nil {
		w.Deps.Blobs = unlinked{name, S3}
	}
	if w.Deps.Keys == nil {
		w.Deps.Keys = unlinked{name, KMS}
	}
	if w.Deps.Notifier == nil {
		w.Deps.Notifier = unlinked{name, SNS}
	}
	logs := o.Log
	if logs == nil {
		logs = os.Stderr
	}
	return w, core.NewService(cfg, w.Deps), slog.New(slog.NewJSONHandler(logs, nil)).With("function", name), nil
}

// unlinked stands in for a service a function does not link. Its code path
// never calls it (Uses); if that table is wrong, the call fails with an
// internal error that says so in the log, never a nil dereference.
type unlinked struct{ function, service string }

var (
	_ core.Blobs    = unlinked{}
	_ core.KeyRing  = unlinked{}
	_ core.Notifier = unlinked{}
)

func (u unlinked) err(op string) error {
	return core.ErrInternal(fmt.Errorf("function %s does not link %s (lambdafn.Uses)", u.function, u.service), "%s", op)
}

func (u unlinked) PresignPut(context.Context, string, int64, []byte, string, time.Duration) (core.Upload, error) {
	return core.Upload{}, u.err("presign upload")
}

func (u unlinked) PresignGet(context.Context, string, time.Duration) (core.SignedURL, error) {
	return core.SignedURL{}, u.err("presign download")
}

func (u unlinked) Stat(context.Context, string) (core.BlobInfo, error) {
	return core.BlobInfo{}, u.err("stat object")
}

func (u unlinked) Delete(context.Context, string) error { return u.err("delete object") }

func (u unlinked) Wrap(context.Context, []byte, map[string]string) (core.WrappedKey, error) {
	return core.WrappedKey{}, u.err("wrap key")
}

func (u unlinked) Unwrap(context.Context, core.WrappedKey, map[string]string) ([]byte, error) {
	return nil, u.err("unwrap key")
}

func (u unlinked) Publish(context.Context, core.Notification) error { return u.err("publish") }

func (u unlinked) Ping(context.Context) error {
	return u.err("ping " + u.service)
}
