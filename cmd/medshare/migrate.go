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
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/legacy"
	"github.com/medshare/medshare/shared/legacy/httplegacy"
	"github.com/medshare/medshare/shared/legacy/migrate"
	"github.com/medshare/medshare/shared/legacy/s3legacy"
	"github.com/medshare/medshare/shared/runtime/config"
)

const migrateUsage = `usage:
  medshare migrate chat-images --manifest FILE --clinic ID [--data-dir DIR | --backend aws]
                   --legacy-url-prefix URL --legacy-source s3://BUCKET|https://BASE/ [--legacy-key-prefix P]
                   [--legacy-endpoint URL --legacy-region R --legacy-path-style]
                   [--dry-run] [--concurrency 8] [--progress auto|bar|log|off]
  medshare migrate verify --manifest FILE --clinic ID [the same backend and legacy flags] [--concurrency 8]
(medshare migrate chat-images -h lists every flag; the legacy flags default to MEDSHARE_LEGACY_*)`

// migrateCmd runs `medshare migrate chat-images` (the migration of the
// legacy chat images, ARCHITECTURE §9) and `medshare migrate verify` (its
// proof), on the embedded data directory (stop `medshare serve` first: it
// holds the store) or on AWS, wired from the environment as `medshare job`
// is. Each prints its JSON summary on stdout and fails when a line failed.
func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(migrateUsage)
	}
	switch args[0] {
	case "chat-images", "verify":
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, migrateUsage)
		return nil
	default:
		return fmt.Errorf("migrate: unknown command %q\n%s", args[0], migrateUsage)
	}
	verifying := args[0] == "verify"
	fs := flag.NewFlagSet("migrate "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	manifest := fs.String("manifest", "", "the chat system's export: one image a line, CSV with a header or JSON Lines")
	format := fs.String("format", "", "csv or jsonl (default: by the file's extension, .csv, .jsonl or .ndjson)")
	clinic := fs.String("clinic", "", "the clinic whose appointment ids the export's are")
	backend := fs.String("backend", "embedded", "embedded (the --data-dir of medshare serve) or aws (MEDSHARE_TABLE, MEDSHARE_BUCKET, ... and AWS credentials from the environment)")
	dir := fs.String("data-dir", ".data", "data directory of the embedded backend")
	ls := migrate.SettingsFromEnv(getenv)
	fs.StringVar(&ls.URLPrefix, "legacy-url-prefix", ls.URLPrefix, "where the legacy images were published: the start of every URL of the export ("+migrate.EnvLegacyURLPrefix+")")
	fs.StringVar(&ls.KeyPrefix, "legacy-key-prefix", ls.KeyPrefix, "put before the rest of a URL's path to make its key in the source ("+migrate.EnvLegacyKeyPrefix+")")
	fs.StringVar(&ls.Source, "legacy-source", ls.Source, "where to read the objects: s3://BUCKET, or an http(s) base URL ("+migrate.EnvLegacySource+")")
	fs.StringVar(&ls.Endpoint, "legacy-endpoint", ls.Endpoint, "the S3 endpoint of an S3-compatible legacy bucket, e.g. https://nyc3.digitaloceanspaces.com ("+migrate.EnvLegacyEndpoint+")")
	fs.StringVar(&ls.Region, "legacy-region", ls.Region, "that endpoint's region ("+migrate.EnvLegacyRegion+")")
	fs.BoolVar(&ls.PathStyle, "legacy-path-style", ls.PathStyle, "address the legacy bucket by path ("+migrate.EnvLegacyPathStyle+")")
	concurrency := fs.Int("concurrency", migrate.DefaultConcurrency, fmt.Sprintf("lines worked on at once (1 to %d)", migrate.MaxConcurrency))
	progress := fs.String("progress", "auto", "auto (a bar on a terminal, a line every --progress-every otherwise), bar, log or off")
	every := fs.Duration("progress-every", 10*time.Second, "with log progress, how often a line is written (0: after every manifest line)")
	dryRun := false
	if !verifying {
		fs.BoolVar(&dryRun, "dry-run", false, "check everything (appointments, senders, reachability, sizes, types) and write nothing")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("migrate: unexpected argument %q", fs.Arg(0))
	case *manifest == "":
		return errors.New("migrate: --manifest is required")
	case !core.ValidExternalID(*clinic):
		return errors.New("migrate: --clinic is required: the clinic whose appointment ids the export's are")
	case *concurrency < 1 || *concurrency > migrate.MaxConcurrency:
		return fmt.Errorf("migrate: --concurrency must be 1 to %d", migrate.MaxConcurrency)
	}
	if err := ls.Check(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	origin, _ := ls.Origin()
	f := legacy.Format(*format)
	if f == "" {
		var err error
		if f, err = legacy.FormatOf(*manifest); err != nil {
			return fmt.Errorf("migrate: %w (or give --format)", err)
		}
	}
	total, err := countLines(*manifest, f)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	cfg, err := config.Service(getenv)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	b, err := openBackend(ctx, *backend, *dir, getenv, cfg, log, "")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer b.Close()
	svc, private := b.Service, b.Blobs
	var copier migrate.Copier
	var source core.LegacySource
	if b.AWS == nil {
		source, err = legacySource(ctx, ls)
	} else if bucket, ok := ls.Bucket(); ok && ls.Endpoint == "" {
		// Both buckets are the account's S3: copy server-side, with the
		// runtime's client (its credentials read the legacy bucket).
		var src *s3legacy.Source
		if src, err = s3legacy.New(b.AWS.Clients.S3, bucket); err == nil {
			source, copier = src, migrate.ServerSideCopier{LegacyBucket: bucket, Blobs: b.AWS.Blobs}
		}
	} else {
		source, err = legacySourceAWS(ctx, ls, b.AWSConfig)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if copier == nil {
		copier = migrate.StreamCopier{Source: source, Blobs: private}
	}
	if err := source.Ping(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	display := progressDisplay(*progress, *every, stderr)
	opts := migrate.RunOptions{Concurrency: *concurrency, Total: total}
	if display != nil {
		opts.Progress, opts.OnFailure = display.Update, display.Failure
	}
	in, err := os.Open(*manifest)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer in.Close()
	r, err := legacy.NewReader(in, f)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var summary interface{ OK() bool }
	var runErr error
	if verifying {
		v := &migrate.Verifier{Service: svc, ClinicID: *clinic, Origin: origin, Source: source, Private: private}
		var s migrate.VerifySummary
		s, runErr = v.Run(ctx, r, opts)
		summary = s
	} else {
		m := &migrate.Migrator{Service: svc, ClinicID: *clinic, Origin: origin, Source: source, Copier: copier,
			RunID: core.NewSortableID("mg", time.Now()), DryRun: dryRun}
		var s migrate.Summary
		s, runErr = m.Run(ctx, r, opts)
		s.Run = m.RunID
		summary = s
	}
	if display != nil {
		display.Finish()
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(summary); err != nil {
		return err
	}
	switch {
	case runErr != nil:
		return fmt.Errorf("migrate: %w (run it again to resume)", runErr)
	case !summary.OK() && verifying:
		return errors.New("migrate verify: some lines are not migrated: keep the legacy bucket")
	case !summary.OK():
		return errors.New("migrate: some lines failed (see failures); fix them and run again: what is done is skipped")
	}
	return nil
}

// legacySource builds the source of an embedded run: the S3 API of an
// s3:// bucket (the default AWS configuration, or the legacy endpoint and
// keys), or plain HTTP.
func legacySource(ctx context.Context, ls migrate.Settings) (core.LegacySource, error) {
	if _, ok := ls.Bucket(); !ok {
		return httplegacy.New(ls.Source, nil)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config of the legacy bucket: %w", err)
	}
	return legacySourceAWS(ctx, ls, awsCfg)
}

func legacySourceAWS(_ context.Context, ls migrate.Settings, awsCfg aws.Config) (core.LegacySource, error) {
	bucket, ok := ls.Bucket()
	if !ok {
		return httplegacy.New(ls.Source, nil)
	}
	return s3legacy.New(s3legacy.NewClient(awsCfg, ls.Endpoint, ls.Region, ls.PathStyle, ls.AccessKeyID, ls.SecretAccessKey), bucket)
}

// progressDisplay returns the display of a run's progress on stderr, or nil
// for none.
func progressDisplay(mode string, every time.Duration, stderr io.Writer) *migrate.Display {
	tty := false
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	switch strings.ToLower(mode) {
	case "off":
		return nil
	case "bar":
		tty = true
	case "log":
		tty = false
	}
	d := &migrate.Display{W: stderr, TTY: tty, LogEvery: every}
	if every == 0 {
		d.LogEvery = time.Nanosecond
	}
	return d
}

// countLines reads the manifest once to count its lines, for the
// progress bar's total and ETA.
func countLines(path string, f legacy.Format) (int, error) {
	in, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	r, err := legacy.NewReader(in, f)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		_, err := r.Next()
		var le *legacy.LineError
		switch {
		case errors.Is(err, io.EOF):
			return n, nil
		case err == nil, errors.As(err, &le):
			n++
		default:
			return 0, err
		}
	}
}
