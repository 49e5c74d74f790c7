package core_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/blob/localblob"
	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/keyring/localkeys"
	"github.com/medshare/medshare/shared/store/boltstore"
)

// TestAuditHashIsPinned pins the canonical form of a record (docs/PROTOCOL.md):
// anyone holding the records must be able to recompute the chain, so the hash
// of a known record must never change.
func TestAuditHashIsPinned(t *testing.T) {
	rec := core.AuditRecord{
		PatientID: "pat-1", Seq: 1, At: time.Date(2026, 11, 26, 10, 0, 0, 123, time.UTC),
		ActorID: "pro-1", ActorRole: core.RoleProfessional, Action: core.AuditChatImageSignedURL,
		ResourceType: "chat_image", ResourceID: "ci_aaaaaaaaaaaaaaaaaaaaaaaaaa", Outcome: core.OutcomeSuccess,
		SourceIP: "203.0.113.9", UserAgent: "app/1", RequestID: "rq-1",
	}
	const want = "c91965dc9f7a20191324ae2c90fb1fc7d3523a9ffde5a381a6637cf84682fed7" // recomputed independently from docs/PROTOCOL.md
	if got := hex.EncodeToString(core.AuditHash(rec)); got != want {
		t.Errorf("AuditHash = %s, want %s", got, want)
	}
	linked := core.Link(rec, core.ChainHead{Seq: 4, Hash: []byte{1, 2, 3}})
	if linked.Seq != 5 || hex.EncodeToString(linked.PrevHash) != "010203" || !core.VerifyRecord(linked) {
		t.Errorf("Link = seq %d prev %x, verifies %v", linked.Seq, linked.PrevHash, core.VerifyRecord(linked))
	}
	other := linked
	other.Outcome = core.OutcomeDenied
	if core.VerifyRecord(other) {
		t.Error("a changed record still verifies")
	}
}

// embeddedAdapters opens the embedded store, blob store and keyring in a
// directory of the test's, closed when it ends.
func embeddedAdapters(t *testing.T) (*boltstore.Store, *localblob.Store, *localkeys.Ring) {
	t.Helper()
	dir := t.TempDir()
	store, err := boltstore.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys, err := localkeys.Open(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := localblob.New(filepath.Join(dir, "blobs"), "http://127.0.0.1:1/blobs", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return store, blobs, keys
}

// TestAuditAcrossProcesses: two services (two Lambda instances, each with its
// own cached chain heads) append to one patient's chain concurrently through
// one store. The conditional append and the retry with the returned head keep
// one linear chain with every record in it.
func TestAuditAcrossProcesses(t *testing.T) {
	store, blobs, keys := embeddedAdapters(t)
	ctx := context.Background()
	clinic := core.Caller{ID: "clinic-1", Role: core.RoleClinic}
	var svcs []*core.Service
	for range 2 {
		// 202 registrations of one patient's appointments in an hour: above
		// the limit (limits.go), which is not what this test is about.
		cfg := core.Config{Limits: core.Limits{Appointments: 1000}}
		svcs = append(svcs, core.NewService(cfg, core.Deps{Store: store, Blobs: blobs, Keys: keys}))
	}
	// Warm both caches, so that each process holds a head the other one moves.
	now := time.Now()
	in := core.AppointmentInput{PatientID: "pat-1", ProfessionalIDs: []string{"pro-1"}, StartsAt: now, EndsAt: now.Add(time.Hour)}
	for i, s := range svcs {
		if _, _, err := s.RegisterAppointment(ctx, clinic, fmt.Sprintf("appt-%d", i), in); err != nil {
			t.Fatal(err)
		}
	}
	const perProcess = 100
	var wg sync.WaitGroup
	errs := make(chan error, 2*perProcess)
	for p, s := range svcs {
		for i := range perProcess {
			wg.Go(func() {
				if _, _, err := s.RegisterAppointment(ctx, clinic, fmt.Sprintf("appt-%d", p), in); err != nil {
					errs <- fmt.Errorf("process %d append %d: %w", p, i, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	v, err := core.VerifyChain(ctx, store, "pat-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(2 + 2*perProcess); !v.Valid || v.Records != want || v.HeadSeq != want {
		t.Errorf("chain: valid=%v records=%d head=%d (%s), want valid with %d", v.Valid, v.Records, v.HeadSeq, v.Problem, want)
	}
}

func TestSortableIDsKeepOrderWithinAMillisecond(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := ""
	for range 70000 { // more than one millisecond's sequence
		id := core.NewSortableID("nt", now)
		if id <= prev {
			t.Fatalf("%q sorts before %q, made after it in the same millisecond", id, prev)
		}
		prev = id
	}
}

func TestSortableIDsSortByTime(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 2000 {
		id := core.NewSortableID("nt", base.Add(time.Duration(i*i)*time.Millisecond))
		if !core.ValidID("nt", id) {
			t.Fatalf("%q is not a valid id", id)
		}
		if id <= prev {
			t.Fatalf("%q (t+%dms) sorts before %q", id, i*i, prev)
		}
		prev = id
	}
}

// goldenV2 is a version 2 record whose hash was recomputed independently
// from docs/PROTOCOL.md (Python's hashlib over the canonical JSON written
// out by hand, with "<" and ">" escaped as encoding/json escapes them).
func goldenV2() core.AuditRecord {
	return core.AuditRecord{
		Version: core.AuditVersion2, PatientID: "pat-1", Seq: 7, At: time.Date(2026, 11, 26, 10, 4, 32, 500000000, time.UTC),
		ActorID: "pro-1", ActorRole: core.RoleProfessional, Action: core.AuditKeyIssue,
		ResourceType: "key", ResourceID: "ek_aaaaaaaaaaaaaaaaaaaaaaaaaa", Outcome: core.OutcomeSuccess,
		SourceIP: "198.51.100.24", UserAgent: "MedSharePro/1.4.0 <beta>", RequestID: "rq-7",
		PhotoID: "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa", ShareID: "sh_aaaaaaaaaaaaaaaaaaaaaaaaaa", Device: "sha256:00ff",
		PrevHash: []byte{1, 2},
	}
}

// TestAuditHashV2IsPinned pins the version 2 canonical form, which covers
// the photo, the share and the device of a view.
func TestAuditHashV2IsPinned(t *testing.T) {
	const want = "ccba0e695c17ee557441cd2a88f357c0f00182c6b22699ef511777012682a266"
	if got := hex.EncodeToString(core.AuditHash(goldenV2())); got != want {
		t.Errorf("AuditHash(v2) = %s, want %s", got, want)
	}
}

// TestAuditVersions: Link makes version 2 records; a version 1 record (or
// one stored before versions existed, version 0) still verifies under its
// own form; every field of version 2 is covered; a record cannot change
// version, or show version 2 fields under version 1, without failing.
func TestAuditVersions(t *testing.T) {
	v1 := core.AuditRecord{
		PatientID: "pat-1", Seq: 1, At: time.Date(2026, 11, 26, 10, 0, 0, 123, time.UTC),
		ActorID: "pro-1", ActorRole: core.RoleProfessional, Action: core.AuditChatImageSignedURL,
		ResourceType: "chat_image", ResourceID: "ci_aaaaaaaaaaaaaaaaaaaaaaaaaa", Outcome: core.OutcomeSuccess,
		SourceIP: "203.0.113.9", UserAgent: "app/1", RequestID: "rq-1",
	}
	v1.Hash = core.AuditHash(v1) // version 0: stored before versions existed
	explicit1 := v1
	explicit1.Version = core.AuditVersion1
	if !core.VerifyRecord(v1) || !core.VerifyRecord(explicit1) {
		t.Fatalf("a version 0/1 record does not verify")
	}
	if got := core.Link(core.AuditRecord{PatientID: "pat-1"}, core.ChainHead{}); got.Version != core.AuditVersion {
		t.Errorf("Link made version %d, want %d", got.Version, core.AuditVersion)
	}
	v2 := goldenV2()
	v2.Hash = core.AuditHash(v2)
	for _, tc := range []struct {
		name   string
		rec    core.AuditRecord
		change func(*core.AuditRecord)
	}{
		{"v2 photo id", v2, func(r *core.AuditRecord) { r.PhotoID = "ph_bbbbbbbbbbbbbbbbbbbbbbbbbb" }},
		{"v2 share id", v2, func(r *core.AuditRecord) { r.ShareID = "" }},
		{"v2 device", v2, func(r *core.AuditRecord) { r.Device = "sha256:00fe" }},
		{"v2 user agent", v2, func(r *core.AuditRecord) { r.UserAgent = "curl/8" }},
		{"v2 previous hash", v2, func(r *core.AuditRecord) { r.PrevHash = []byte{1, 3} }},
		{"v2 downgraded to v1", v2, func(r *core.AuditRecord) { r.Version = core.AuditVersion1 }},
		{"v2 downgraded to v1 without its fields", v2, func(r *core.AuditRecord) {
			r.Version, r.PhotoID, r.ShareID, r.Device = 0, "", "", ""
		}},
		{"v1 upgraded to v2", v1, func(r *core.AuditRecord) { r.Version = core.AuditVersion2 }},
		{"v1 shows a photo id", v1, func(r *core.AuditRecord) { r.PhotoID = "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa" }},
		{"v1 shows a share id", explicit1, func(r *core.AuditRecord) { r.ShareID = "sh_aaaaaaaaaaaaaaaaaaaaaaaaaa" }},
		{"v1 shows a device", v1, func(r *core.AuditRecord) { r.Device = "sha256:00ff" }},
		{"unknown version", v2, func(r *core.AuditRecord) { r.Version = 3 }},
		{"unknown version, no hash", v2, func(r *core.AuditRecord) { r.Version, r.Hash = 3, nil }},
		{"negative version, no hash", v1, func(r *core.AuditRecord) { r.Version, r.Hash = -1, []byte{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rec
			tc.change(&r)
			if core.VerifyRecord(r) {
				t.Errorf("the changed record still verifies")
			}
		})
	}
}

// TestAuditTextIsCanonical: the canonical encoding writes a byte that is not
// UTF-8 as U+FFFD, so "\xff" and "\xfe" hash alike. Link returns the text it
// hashed, and a record holding other bytes does not verify: a changed user
// agent cannot keep the hash (found by FuzzAuditRecord, docs/FUZZING.md).
func TestAuditTextIsCanonical(t *testing.T) {
	rec := core.AuditRecord{PatientID: "pat-1", At: time.Unix(1, 0), ActorID: "pro-1", ActorRole: core.RoleProfessional,
		Action: core.AuditKeyIssue, Outcome: core.OutcomeSuccess, UserAgent: "bad \xff\xfe agent", RequestID: "rq-1"}
	linked := core.Link(rec, core.ChainHead{})
	if want := "bad \uFFFD\uFFFD agent"; linked.UserAgent != want {
		t.Errorf("Link kept user agent %q, want %q", linked.UserAgent, want)
	}
	if !core.VerifyRecord(linked) {
		t.Error("the linked record does not verify")
	}
	for _, ua := range []string{"bad \xfe\xff agent", "bad \xff\xfe agent", "bad \xff agent"} {
		changed := linked
		changed.UserAgent = ua
		if core.VerifyRecord(changed) {
			t.Errorf("user agent %q verifies with the hash of %q", ua, linked.UserAgent)
		}
	}
}

// TestAuditActionsAreClosed pins the set of audit actions and their stored
// strings (the hash covers them: they never change), and checks that the
// service names an action only by its constant: no other string of an
// action's shape appears in core's code, so that a typo cannot write an
// action the daily report never counts.
func TestAuditActionsAreClosed(t *testing.T) {
	want := []string{
		"appointment.register", "photo.finalize", "photo.delete", "photo.view",
		"chat_image.upload", "chat_image.signed_url",
		"chat_image.migrate", "chat_image.resolve", "chat_image.legacy_url",
		"share.create", "share.revoke", "share.expire",
		"access.open", "key.issue", "key.claim", "activity.report",
	}
	var got []string
	for _, a := range core.AuditActions() {
		got = append(got, string(a))
		if !a.Valid() {
			t.Errorf("%q is listed but not Valid", a)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AuditActions() (-want +got):\n%s", diff)
	}
	for _, a := range []core.AuditAction{"", "key.isue", "Key.issue", "photo.list", "share.create "} {
		if a.Valid() {
			t.Errorf("%q is Valid, want not", a)
		}
	}

	shape := regexp.MustCompile(`^"[a-z_]+\.[a-z_]+"$`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			// The constants' own declaration is the one place the strings are written.
			if vs, ok := n.(*ast.ValueSpec); ok {
				if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "AuditAction" {
					return false
				}
			}
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && shape.MatchString(lit.Value) {
				t.Errorf("%s: the string %s has an audit action's shape: name the action by its constant (core.AuditActions)", fset.Position(lit.Pos()), lit.Value)
			}
			return true
		})
	}
}
