// Command medshare runs MedShare on one machine and holds its tools:
//
//	medshare serve [--addr 127.0.0.1:8080] [--data-dir .data] [--demo] [--jobs=true] [--tls-cert FILE --tls-key FILE] [--rate-limit=true] ...
//	medshare backup --out FILE [--data-dir .data]
//	medshare restore --from FILE [--data-dir .data] [--force]
//	medshare job cleanup|daily-report [--backend embedded|aws] [--data-dir .data] [--day YYYY-MM-DD]
//	medshare migrate chat-images|verify --manifest FILE --clinic ID [--backend embedded|aws] ...: the legacy chat images
//	medshare token --sub ID --role patient|professional|clinic [--data-dir .data] [--ttl 12h]
//	medshare loadtest [--url http://127.0.0.1:8080] [--data-dir .data] [flags]: a bounded load test, loopback only
//	medshare bootstrap [--table medshare] [--bucket medshare-objects] [--key-alias medshare] [--topic medshare-events] [--endpoint URL] [--path-style]
//	medshare cdn-key generate|put ...: the key pair of chat images' CloudFront URLs
//	medshare bench coldstart [--runs 7]: the functions' cold starts and sizes against a hello world
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/loadtest"
	"github.com/medshare/medshare/shared/jobs"
	"github.com/medshare/medshare/shared/runtime/awsruntime"
	"github.com/medshare/medshare/shared/runtime/config"
	"github.com/medshare/medshare/shared/runtime/devauth"
	"github.com/medshare/medshare/shared/runtime/embedded"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal a second one ends the process at once.
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the flag set printed its usage
		}
		fmt.Fprintln(os.Stderr, "medshare:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  medshare serve [--addr 127.0.0.1:8080] [--data-dir .data] [--public-url URL] [--demo] [--jobs=true]
                 [--tls-cert FILE --tls-key FILE | --insecure-http] [--rate-limit=true] [--shutdown-timeout 30s]
                 (medshare serve -h lists every flag)
  medshare backup --out FILE [--data-dir .data]
  medshare restore --from FILE [--data-dir .data] [--force]
  medshare job cleanup|daily-report [--backend embedded|aws] [--data-dir .data] [--day YYYY-MM-DD]
  medshare migrate chat-images|verify --manifest FILE --clinic ID [--data-dir .data | --backend aws]
                   --legacy-url-prefix URL --legacy-source s3://BUCKET|https://BASE/ [--dry-run] [--concurrency 8]
                   (medshare migrate -h)
  medshare token --sub ID --role patient|professional|clinic [--data-dir .data] [--ttl 12h]
  medshare bootstrap [--table medshare] [--bucket medshare-objects] [--key-alias medshare]
                     [--topic medshare-events] [--endpoint URL] [--path-style]
  medshare loadtest [--url http://127.0.0.1:8080] [--data-dir .data] [--patients 500] [--viewers 1000] ...
                    (loopback only; see medshare loadtest -h)
  medshare cdn-key generate --private-key FILE
  medshare cdn-key put --secret ARN --key-pair-id ID --private-key FILE [--public-key FILE]
  medshare bench coldstart [--runs 7] [--rie PATH] [--functions a,b,...]
  medshare bench throughput [--duration 3s] [--runs 10] [--clients 32] [--patients N] [--cpuprofile PREFIX]`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return token(args[1:], stdout, stderr)
	case "job":
		return job(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args[1:], getenv, stdout, stderr)
	case "bootstrap":
		return bootstrap(ctx, args[1:], stdout, stderr)
	case "loadtest":
		return loadTest(ctx, args[1:], stdout, stderr)
	case "backup":
		return backupCmd(ctx, args[1:], stdout, stderr)
	case "restore":
		return restoreCmd(args[1:], stdout, stderr)
	case "cdn-key":
		return cdnKey(ctx, args[1:], stdout, stderr)
	case "bench":
		return bench(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func token(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "subject (user id)")
	role := fs.String("role", "", "patient, professional or clinic")
	dir := fs.String("data-dir", ".data", "data directory holding the token signing key")
	ttl := fs.Duration("ttl", 12*time.Hour, "lifetime of the token")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sub == "" || *role == "" {
		return errors.New("token: --sub and --role are required")
	}
	if *ttl <= 0 || *ttl > devauth.MaxTTL {
		return fmt.Errorf("token: --ttl must be more than 0 and at most %v", devauth.MaxTTL)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	auth, err := devauth.LoadOrCreate(filepath.Join(*dir, embedded.TokenKeyFile))
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	tok, err := auth.Mint(*sub, core.Role(*role), *ttl)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// Demo identities.
const (
	DemoPatient      = "demo-patient"
	DemoProfessional = "demo-professional"
	DemoClinic       = "demo-clinic"
	DemoAppointment  = "demo-appointment"
)

// seedDemo registers the demo appointment and prints tokens as shell exports,
// also written to DIR/demo.env for a second terminal.
func seedDemo(ctx context.Context, rt *embedded.Runtime, dir string, stdout io.Writer) error {
	clinic := core.Caller{ID: DemoClinic, Role: core.RoleClinic, SourceIP: "127.0.0.1", UserAgent: "medshare-demo"}
	now := time.Now().UTC()
	_, _, err := rt.Service.RegisterAppointment(ctx, clinic, DemoAppointment, core.AppointmentInput{
		PatientID: DemoPatient, ProfessionalIDs: []string{DemoProfessional},
		StartsAt: now, EndsAt: now.Add(24 * time.Hour),
	})
	if err != nil && !core.IsKind(err, core.KindConflict) {
		return err
	}
	var out []byte
	for _, who := range []struct {
		name, sub string
		role      core.Role
	}{
		{"PATIENT_TOKEN", DemoPatient, core.RolePatient},
		{"PRO_TOKEN", DemoProfessional, core.RoleProfessional},
		{"CLINIC_TOKEN", DemoClinic, core.RoleClinic},
	} {
		tok, err := rt.Auth.Mint(who.sub, who.role, 12*time.Hour)
		if err != nil {
			return err
		}
		out = fmt.Appendf(out, "export %s=%s\n", who.name, tok)
	}
	out = fmt.Appendf(out, "export APPOINTMENT_ID=%s\n", DemoAppointment)
	if err := os.WriteFile(filepath.Join(dir, "demo.env"), out, 0o600); err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// job runs one scheduled job now, on the embedded data directory (stop
// `medshare serve` first: it holds the store) or on AWS, wired from the
// environment as the functions are. It prints the result as JSON.
func job(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const jobUsage = "usage: medshare job cleanup|daily-report [--backend embedded|aws] [--data-dir .data] [--day YYYY-MM-DD]\n(medshare job cleanup -h lists the flags)"
	if len(args) == 0 {
		return errors.New(jobUsage)
	}
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, jobUsage)
		return nil
	}
	name := args[0]
	if _, ok := jobs.ByName(name); !ok {
		return fmt.Errorf("job: unknown job %q (cleanup or daily-report)", name)
	}
	fs := flag.NewFlagSet("job "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	backend := fs.String("backend", "embedded", "embedded (the --data-dir of medshare serve) or aws (MEDSHARE_TABLE, ... and AWS credentials from the environment)")
	dir := fs.String("data-dir", ".data", "data directory of the embedded backend")
	day := fs.String("day", "", "daily-report: the UTC day to report (default: yesterday)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	at := time.Now()
	if *day != "" {
		if name != "daily-report" {
			return errors.New("job: --day is for daily-report")
		}
		d, err := time.Parse(time.DateOnly, *day)
		if err != nil {
			return fmt.Errorf("job: --day: %w", err)
		}
		at = d.Add(24 * time.Hour) // the run that reports the day before it
	}
	cfg, err := config.Service(getenv)
	if err != nil {
		return fmt.Errorf("job: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	b, err := openBackend(ctx, *backend, *dir, getenv, cfg, log, ", or let its schedule run the job")
	if err != nil {
		return fmt.Errorf("job: %w", err)
	}
	defer b.Close()
	res, err := jobs.Run(ctx, b.Service, name, at, log)
	if err != nil {
		return fmt.Errorf("job: %w", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// bootstrap creates the AWS resources on any endpoint (emulators, LocalStack)
// and prints the environment the functions need, as shell exports.
func bootstrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var n awsruntime.BootstrapNames
	fs.StringVar(&n.Table, "table", "medshare", "DynamoDB table")
	fs.StringVar(&n.Bucket, "bucket", "medshare-objects", "S3 bucket")
	fs.StringVar(&n.KeyAlias, "key-alias", "medshare", "KMS key alias, without alias/")
	fs.StringVar(&n.Topic, "topic", "medshare-events", "SNS topic name")
	endpoint := fs.String("endpoint", "", "one endpoint for every service (e.g. LocalStack); default: the SDK's, which honours AWS_ENDPOINT_URL_<SERVICE>")
	pathStyle := fs.Bool("path-style", false, "address S3 buckets by path (emulators)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: aws config: %w", err)
	}
	if *endpoint != "" {
		cfg.BaseEndpoint = endpoint
	}
	s, err := awsruntime.Bootstrap(ctx, awsruntime.NewClients(cfg, *pathStyle), cfg.Region, n)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	env := s.Env()
	if *pathStyle {
		env[awsruntime.EnvPathStyle] = "true"
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "export %s=%s\n", k, env[k])
	}
	return nil
}

// loadTest runs a bounded load test against a running `medshare serve` on
// loopback, then checks the invariants (shared/devtools/loadtest). It mints tokens
// with the server's key from --data-dir and fails when an invariant failed
// or any answer was a 5xx.
func loadTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := loadtest.Defaults()
	cfg.RegisterFlags(fs)
	dir := fs.String("data-dir", ".data", "the server's data directory, for its token signing key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loadtest.CheckURL(cfg.BaseURL); err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	// LoadOrCreate would make a key the server does not know: require its own.
	keyPath := filepath.Join(*dir, embedded.TokenKeyFile)
	if _, err := os.Stat(keyPath); err != nil {
		return fmt.Errorf("loadtest: no token key in %s (the --data-dir of medshare serve): %w", *dir, err)
	}
	auth, err := devauth.LoadOrCreate(keyPath)
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	cfg.Mint, cfg.Progress = auth.Mint, stderr
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	rep.WriteText(stdout)
	if !rep.OK() {
		return fmt.Errorf("loadtest: %s", rep.Summary())
	}
	return nil
}
