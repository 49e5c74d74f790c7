package migrate_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/medshare/medshare/shared/blob/s3blob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/awstest"
	"github.com/medshare/medshare/shared/devtools/testenv"
	"github.com/medshare/medshare/shared/legacy"
	"github.com/medshare/medshare/shared/legacy/httplegacy"
	"github.com/medshare/medshare/shared/legacy/migrate"
	"github.com/medshare/medshare/shared/legacy/migrate/migratetest"
	"github.com/medshare/medshare/shared/legacy/s3legacy"
)

// adapterSet is the migration on one adapter set: the service and its
// private store, and a legacy source with the library's objects.
type adapterSet struct {
	env    *testenv.Env
	source core.LegacySource
	copier migrate.Copier
}

// adapterSets are the two: the embedded runtime with the legacy bucket a
// directory served over HTTP (streamed copies), and the AWS adapters on the
// emulators with the legacy bucket a second bucket of the S3 emulator
// (server-side copies).
var adapterSets = []struct {
	name  string
	start func(t testing.TB, lib *migratetest.Library) adapterSet
}{
	{"embedded", func(t testing.TB, lib *migratetest.Library) adapterSet {
		env := testenv.Start(t, core.Config{})
		dir := t.TempDir()
		if err := lib.PutDir(dir); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
		t.Cleanup(srv.Close)
		src, err := httplegacy.New(srv.URL+"/", srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		return adapterSet{env: env, source: src, copier: migrate.StreamCopier{Source: src, Blobs: env.Blobs.(migrate.Blobs)}}
	}},
	{"aws", func(t testing.TB, lib *migratetest.Library) adapterSet {
		env := testenv.StartAWS(t, core.Config{})
		client := awstest.S3Client(t)
		bucket := awstest.NewBucket(t, client, "legacy")
		if err := lib.Put(func(key string, data []byte) error {
			_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		src, err := s3legacy.New(client, bucket)
		if err != nil {
			t.Fatal(err)
		}
		return adapterSet{env: env, source: src, copier: migrate.ServerSideCopier{LegacyBucket: bucket, Blobs: env.Blobs.(*s3blob.Store)}}
	}},
}

func forEachAdapterSet(t *testing.T, lib func() *migratetest.Library, test func(t *testing.T, a adapterSet, lib *migratetest.Library)) {
	for _, as := range adapterSets {
		t.Run(as.name, func(t *testing.T) {
			l := lib()
			a := as.start(t, l)
			if err := l.Register(context.Background(), a.env.Service); err != nil {
				t.Fatal(err)
			}
			test(t, a, l)
		})
	}
}

func (a adapterSet) migrator(run string) *migrate.Migrator {
	origin, err := legacy.NewOrigin(migratetest.URLPrefix, migratetest.KeyPrefix)
	if err != nil {
		panic(err)
	}
	return &migrate.Migrator{Service: a.env.Service, ClinicID: migratetest.Clinic, Origin: origin, Source: a.source, Copier: a.copier,
		RunID: run, Backoff: time.Millisecond}
}

func reader(t *testing.T, lib *migratetest.Library) *legacy.Reader {
	t.Helper()
	r, err := legacy.NewReader(bytes.NewReader(lib.Manifest()), legacy.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// failuresOnly keeps a summary's failures' line and reason.
var failuresOnly = cmpopts.IgnoreFields(migrate.Result{}, "Message", "ImageID", "Bytes")

// TestMigrateManifest migrates a manifest of 300 lines, some dead, some
// with a wrong checksum or size, some in unknown appointments, sent by
// strangers, outside the legacy source, malformed or repeated: a dry run
// writes nothing and predicts the run; the run reports exact counts and
// each failed line with its reason; a second run does nothing; verify
// proves the images and names what is not migrated.
func TestMigrateManifest(t *testing.T) {
	forEachAdapterSet(t, func() *migratetest.Library { return migratetest.New(1, 300) }, testMigrateManifest)
}

func testMigrateManifest(t *testing.T, a adapterSet, lib *migratetest.Library) {
	ctx := context.Background()
	images := len(lib.Images)
	migratedOrDone, byReason, failures := lib.WantSummary()
	if images < 200 || len(failures) < 50 || migratedOrDone == images {
		t.Fatalf("library of %d images, %d failures, %d repeats: not the mix this test needs", images, len(failures), migratedOrDone-images)
	}

	dry := a.migrator("mg-dry")
	dry.DryRun = true
	sum, err := dry.Run(ctx, reader(t, lib), migrate.RunOptions{Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	// A dry run reads no object through: a checksum that is not the
	// object's is found by the copy.
	var dryFailures []migrate.Result
	for _, f := range failures {
		if f.Reason != legacy.ReasonChecksumMismatch {
			dryFailures = append(dryFailures, f)
		}
	}
	checksums := byReason[legacy.ReasonChecksumMismatch]
	if sum.WouldMigrate != migratedOrDone+checksums || sum.Migrated != 0 || sum.Failed != len(dryFailures) || sum.BytesCopied == 0 {
		t.Errorf("dry run: would migrate %d, migrated %d, failed %d; want %d, 0, %d",
			sum.WouldMigrate, sum.Migrated, sum.Failed, migratedOrDone+checksums, len(dryFailures))
	}
	if diff := cmp.Diff(dryFailures, sum.Failures, failuresOnly); diff != "" {
		t.Errorf("dry run's failures (-want +got):\n%s", diff)
	}
	lib.Check(t, ctx, a.env.Service, a.copier, map[string]bool{}) // nothing written

	var progress []migrate.Progress
	sum, err = a.migrator("mg-first").Run(ctx, reader(t, lib), migrate.RunOptions{Concurrency: 8, Total: len(lib.Lines),
		Progress: func(p migrate.Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Migrated != images || sum.AlreadyDone != migratedOrDone-images || sum.Lines != len(lib.Lines) || sum.Failed != len(failures) || sum.Interrupted {
		t.Errorf("run: migrated %d, already done %d, failed %d of %d lines; want %d, %d, %d of %d",
			sum.Migrated, sum.AlreadyDone, sum.Failed, sum.Lines, images, migratedOrDone-images, len(failures), len(lib.Lines))
	}
	// A repeated line may copy its image beside the first and complete
	// it first: the bytes are counted by the line that completes, once
	// per image, give or take the repeats'.
	if want, slack := lib.Bytes(), lib.RepeatBytes(); sum.BytesCopied < want-slack || sum.BytesCopied > want+slack {
		t.Errorf("bytes copied %d, want %d (± %d)", sum.BytesCopied, want, slack)
	}
	if diff := cmp.Diff(byReason, sum.FailedByReason); diff != "" {
		t.Errorf("failed by reason (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(failures, sum.Failures, failuresOnly); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if sum.OK() {
		t.Error("summary OK with failed lines: the command would exit 0")
	}
	if n := len(progress); n != len(lib.Lines) || progress[n-1].Done != len(lib.Lines) || progress[n-1].Migrated != images {
		t.Errorf("progress: %d updates, last %+v", n, progress[n-1])
	}
	lib.Check(t, ctx, a.env.Service, a.copier, nil)

	// Again: everything done is skipped, the same lines fail.
	sum, err = a.migrator("mg-second").Run(ctx, reader(t, lib), migrate.RunOptions{Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Migrated != 0 || sum.AlreadyDone != migratedOrDone || sum.BytesCopied != 0 || sum.Failed != len(failures) {
		t.Errorf("second run: %+v, want every image already done", sum)
	}
	lib.Check(t, ctx, a.env.Service, a.copier, nil)

	origin, _ := legacy.NewOrigin(migratetest.URLPrefix, migratetest.KeyPrefix)
	v := &migrate.Verifier{Service: a.env.Service, ClinicID: migratetest.Clinic, Origin: origin, Source: a.source, Private: a.copier}
	vs, err := v.Run(ctx, reader(t, lib), migrate.RunOptions{Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	// The dead lines' objects are not there to lose; the lines that failed
	// with their object in the bucket are not migrated; malformed lines and
	// URLs outside the source are reported as such.
	wantVerify := map[string]int{
		legacy.ReasonNotMigrated:   byReason[legacy.ReasonChecksumMismatch] + byReason[legacy.ReasonSizeMismatch] + byReason[legacy.ReasonUnknownAppointment] + byReason[legacy.ReasonSenderNotParticipant],
		legacy.ReasonMalformed:     byReason[legacy.ReasonMalformed],
		legacy.ReasonOutsideSource: byReason[legacy.ReasonOutsideSource],
	}
	if vs.Verified != migratedOrDone || vs.Dead != byReason[legacy.ReasonDeadURL] || vs.OK() {
		t.Errorf("verify: %d verified, %d dead, OK %v; want %d, %d, not OK", vs.Verified, vs.Dead, vs.OK(), migratedOrDone, byReason[legacy.ReasonDeadURL])
	}
	if diff := cmp.Diff(wantVerify, vs.FailedByReason); diff != "" {
		t.Errorf("verify's failures (-want +got):\n%s", diff)
	}
}

// TestMigrateInterruptedAndResumed stops runs at random points (their
// context cancelled after a random number of lines, with lines in flight)
// and resumes until a run completes: every image ends migrated exactly
// once, with one object and one audit record, and nothing of a failed line.
func TestMigrateInterruptedAndResumed(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	forEachAdapterSet(t, func() *migratetest.Library { return migratetest.New(2, 200) }, func(t *testing.T, a adapterSet, lib *migratetest.Library) {
		rng := rand.New(rand.NewPCG(seed, 7))
		ctx := context.Background()
		migratedOrDone, _, failures := lib.WantSummary()
		migrated := 0
		for round := 0; ; round++ {
			runCtx, cancel := context.WithCancel(ctx)
			stopAt := 1 + rng.IntN(len(lib.Lines)/3)
			sum, err := a.migrator("mg-round").Run(runCtx, reader(t, lib), migrate.RunOptions{Concurrency: 8,
				Progress: func(p migrate.Progress) {
					if p.Done >= stopAt && round < 4 {
						cancel()
					}
				}})
			cancel()
			migrated += sum.Migrated
			if round < 4 {
				if !sum.Interrupted || err == nil {
					t.Fatalf("round %d: stopped after %d lines: interrupted %v, %v", round, stopAt, sum.Interrupted, err)
				}
				continue
			}
			if err != nil || sum.Interrupted || sum.Failed != len(failures) || sum.Migrated+sum.AlreadyDone != migratedOrDone {
				t.Fatalf("last round: %+v %v", sum, err)
			}
			break
		}
		// A line whose completion was written as its context ended counts
		// as failed in its run and as already done in the next: the runs'
		// sum may fall short, never over. Check proves one record each.
		if migrated > len(lib.Images) {
			t.Errorf("the runs migrated %d images in all, more than the %d there are", migrated, len(lib.Images))
		}
		lib.Check(t, ctx, a.env.Service, a.copier, nil)
	})
}

// TestMigrateRacing runs two migrations of the same manifest at once, as
// two operators (or a resumed run beside one still going) would: every
// image is migrated by exactly one of them.
func TestMigrateRacing(t *testing.T) {
	forEachAdapterSet(t, func() *migratetest.Library { return migratetest.New(3, 200) }, func(t *testing.T, a adapterSet, lib *migratetest.Library) {
		ctx := context.Background()
		migratedOrDone, _, failures := lib.WantSummary()
		var wg sync.WaitGroup
		sums := make([]migrate.Summary, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				sums[i], errs[i] = a.migrator("mg-race").Run(ctx, reader(t, lib), migrate.RunOptions{Concurrency: 8})
			})
		}
		wg.Wait()
		for i, s := range sums {
			if errs[i] != nil || s.Failed != len(failures) || s.Migrated+s.AlreadyDone != migratedOrDone {
				t.Errorf("run %d: migrated %d, already done %d, failed %d (%v): want %d lines done and %d failed",
					i, s.Migrated, s.AlreadyDone, s.Failed, errs[i], migratedOrDone, len(failures))
			}
		}
		if got := sums[0].Migrated + sums[1].Migrated; got != len(lib.Images) {
			t.Errorf("the two runs migrated %d + %d images, want %d in all: each exactly once", sums[0].Migrated, sums[1].Migrated, len(lib.Images))
		}
		lib.Check(t, ctx, a.env.Service, a.copier, nil)
	})
}

// BenchmarkMigrate measures a migration's throughput (images/s, MB/s) of
// 300 images of 256 KiB on each adapter set: a run of the manifest from
// the start, with 8 and 32 lines at once. docs/PERFORMANCE.md has the
// figures and the command.
func BenchmarkMigrate(b *testing.B) {
	const images, size = 300, 256 << 10
	for _, as := range adapterSets {
		for _, concurrency := range []int{8, 32} {
			b.Run(fmt.Sprintf("%s/concurrency-%d", as.name, concurrency), func(b *testing.B) {
				var secs float64
				for i := range b.N {
					b.StopTimer()
					lib := migratetest.NewGoodOfSize(uint64(i+1), images, size)
					a := as.start(b, lib)
					if err := lib.Register(context.Background(), a.env.Service); err != nil {
						b.Fatal(err)
					}
					r, err := legacy.NewReader(bytes.NewReader(lib.Manifest()), legacy.JSONL)
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					start := time.Now()
					sum, err := a.migrator("mg-bench").Run(context.Background(), r, migrate.RunOptions{Concurrency: concurrency})
					secs += time.Since(start).Seconds()
					if err != nil || sum.Migrated != images {
						b.Fatalf("%+v %v", sum, err)
					}
				}
				b.ReportMetric(float64(images*b.N)/secs, "images/s")
				b.ReportMetric(float64(images*size*b.N)/secs/1e6, "MB/s")
			})
		}
	}
}
