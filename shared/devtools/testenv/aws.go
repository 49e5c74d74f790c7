package testenv

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/runtime/awsruntime"
	"github.com/medshare/medshare/shared/runtime/devauth"
	"github.com/medshare/medshare/shared/runtime/localserver"
)

// StartAWS runs the service on the AWS adapters against the local emulators
// (fresh table, bucket, key and topic), behind the local server that plays API
// Gateway. It skips without the emulators, or fails when make test requires
// them (awstest.Config). The service reads env.Clock; the object store's
// presigned URLs follow real time, as S3's do.
func StartAWS(t testing.TB, cfg core.Config) *Env {
	t.Helper()
	awsCfg := awstest.Config(t)
	env := &Env{T: t, Name: "aws", Logs: &SyncBuffer{}, Clock: &Clock{}, DataDir: t.TempDir()}
	clients := awsruntime.NewClients(awsCfg, true)
	s, err := awsruntime.Bootstrap(context.Background(), clients, awsCfg.Region, awsruntime.BootstrapNames{
		Table: awstest.UniqueName(t, "tbl"), Bucket: awstest.UniqueName(t, "bkt"),
		KeyAlias: awstest.UniqueName(t, "key"), Topic: awstest.UniqueName(t, "topic"),
	})
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	s.PathStyle = true
	rt, err := awsruntime.New(clients, s, cfg, env.Clock.Now)
	if err != nil {
		t.Fatalf("aws runtime: %v", err)
	}
	env.TokenKeyFile = filepath.Join(env.DataDir, "token.pem")
	env.Auth, err = devauth.LoadOrCreate(env.TokenKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(env.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(localserver.New(localserver.Options{
		Handler: httpapi.NewHandler(rt.Service, log), Auth: env.Auth, OpenAPI: httpapi.OpenAPI(), Log: log,
	}))
	t.Cleanup(srv.Close)
	env.URL, env.Client = srv.URL, srv.Client()
	env.Store, env.Blobs, env.Keys = rt.Store, rt.Blobs, rt.Keys
	env.Service = rt.Service
	env.dumpItems = func(t testing.TB) []Stored { return dynamoItems(t, clients.DynamoDB, s.Table) }
	env.dumpObjects = func(t testing.TB) []Stored { return s3Objects(t, clients.S3, s.Bucket) }
	return env
}

// Runtimes are the two ways to start a test server: every security test runs
// on both adapter sets.
var Runtimes = []struct {
	Name  string
	Start func(testing.TB, core.Config) *Env
}{
	{"embedded", Start},
	{"aws", StartAWS},
}
