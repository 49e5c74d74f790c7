package boltstore

import (
	"cmp"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/medshare/medshare/shared/core"
)

// The golden store files. testdata/golden-<name>.db is a store file written
// by the code of its time, through the ports, with every entity the store
// keeps and every field of each set (goldenWorld). TestGoldenFiles opens
// each of them with today's code and reads every entity back through the
// ports, exactly: a change to the stored shapes that cannot read the files
// already on disk fails it. A file is never rewritten: a new stored shape
// adds a file (go test ./shared/store/boltstore -run TestGoldenFiles
// -write-golden=<name>), so that every earlier shape stays pinned.
//
// golden-before-storeitem.db was written by the stores of main at 603e877,
// before both stores shared one stored shape per entity (issue 12).
var writeGolden = flag.String("write-golden", "", "write testdata/golden-`name`.db with the current code before checking the golden files")

func TestGoldenFiles(t *testing.T) {
	if *writeGolden != "" {
		writeGoldenFile(t, filepath.Join("testdata", "golden-"+*writeGolden+".db"))
	}
	files, err := filepath.Glob(filepath.Join("testdata", "golden-*.db"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden store files in testdata (%v)", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".db"), func(t *testing.T) {
			// Open migrates and indexes a file in place: read a copy.
			path := filepath.Join(t.TempDir(), "medshare.db")
			copyFile(t, file, path)
			s, err := Open(path)
			if err != nil {
				t.Fatalf("Open %s: %v", file, err)
			}
			defer s.Close()
			checkGolden(t, s, goldenWorld())
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// gt is the golden world's "now": nanoseconds set, so that precision loss
// shows.
var gt = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// golden is what a golden file holds once written: the entities as the
// ports must read them back, and the writes that made them, in order.
type golden struct {
	photos       []core.Photo // ordered by id
	appointments []core.Appointment
	images       []core.ChatImage // ci-1 READY, ci-2 PENDING
	shares       []core.Share     // ordered by id
	accesses     []core.Access
	keys         []core.EphemeralKey
	inbox        []core.InboxItem // every recipient's, ordered by id
	records      []core.AuditRecord
	watermarks   map[core.DueKind]time.Time
	report       core.DailyReport

	// The share whose idempotency claim is stored, and the access whose
	// suspicion score and flag are.
	claimed core.Share
	flagged core.Access
	flag    string
}

// The golden world's parties and ids.
const (
	gPatient = "pat-1"
	gPro     = "dr-a"
	gClinic  = "clinic-1"
	gOther   = "clinic-2"
)

func goldenPhoto(id string, status core.UploadStatus, created time.Time) core.Photo {
	return core.Photo{
		ID: id, OwnerID: gPatient, Angle: "CROWN", ContentType: "image/heic", Size: 123457,
		SHA256:     digest("ciphertext of " + id),
		WrappedKey: core.WrappedKey{KeyID: "local-master-1", Ciphertext: digest("wrapped key of " + id)},
		Metadata:   []byte("\x01client-encrypted metadata of " + id),
		Status:     status, CreatedAt: created, UploadExpiresAt: created.Add(15 * time.Minute), UpdatedAt: created,
	}
}

func digest(s string) []byte {
	out := make([]byte, 32)
	copy(out, s)
	for i := range out {
		out[i] ^= byte(i * 7)
	}
	return out
}

func goldenShare(id string, created, expires time.Time) core.Share {
	return core.Share{
		ID: id, PatientID: gPatient, ProfessionalID: gPro,
		Photos: []core.SharedPhoto{{
			PhotoID: "ph_golden1", Angle: "CROWN", ContentType: "image/heic", Size: 123457, SHA256: digest("ciphertext of ph_golden1"),
		}},
		Purpose: "second opinion on " + id, ScreenshotPolicy: core.ScreenshotWarn,
		MaxViews: 5, AccessWindow: 15 * time.Minute, MaxDevices: 2,
		Status: core.ShareActive, CreatedAt: created, ExpiresAt: expires,
	}
}

func goldenNote(id, recipient, typ, share string, at time.Time) core.Notification {
	return core.Notification{ID: id, RecipientID: recipient, Type: typ, ShareID: share, CreatedAt: at,
		Data: map[string]string{"share_id": share, "event": typ}}
}

func goldenRecord(actor string, role core.Role, action core.AuditAction, resType, resID string, at time.Time) core.AuditRecord {
	return core.AuditRecord{
		PatientID: gPatient, At: at, ActorID: actor, ActorRole: role, Action: action,
		ResourceType: resType, ResourceID: resID, Outcome: core.OutcomeSuccess,
		SourceIP: "203.0.113.7", UserAgent: "golden/1.0", RequestID: "rq-" + string(action) + "-" + resID,
		PhotoID: "ph_golden1", ShareID: "sh_golden1", Device: "dev-a",
	}
}

// goldenWorld is the world every golden file holds, as the ports must read
// it back. writeGoldenFile writes it with the writes below, in order; each
// entity is given here as it stands after them.
func goldenWorld() golden {
	var g golden
	ready := goldenPhoto("ph_golden1", core.StatusReady, gt.Add(-2*time.Hour))
	ready.UpdatedAt = ready.CreatedAt.Add(time.Minute) // MarkPhotoReady's now
	pending := goldenPhoto("ph_golden2", core.StatusPending, gt.Add(-10*time.Minute))
	g.photos = []core.Photo{ready, pending}

	appt := core.Appointment{ID: "appt-1", ClinicID: gClinic, PatientID: gPatient, ProfessionalIDs: []string{gPro, "dr-b"},
		StartsAt: gt.Add(time.Hour), EndsAt: gt.Add(90 * time.Minute), ImageCount: 2,
		CreatedAt: gt.Add(-3 * time.Hour), UpdatedAt: gt.Add(-3 * time.Hour)}
	other := appt
	other.ClinicID, other.PatientID, other.ProfessionalIDs, other.ImageCount = gOther, "pat-2", []string{"dr-c"}, 0
	g.appointments = []core.Appointment{appt, other}

	image := func(id string, status core.UploadStatus, created time.Time) core.ChatImage {
		return core.ChatImage{ID: id, AppointmentID: appt.ID, ClinicID: gClinic, PatientID: gPatient, UploaderID: gPro,
			Participants: appt.Participants(), ContentType: "image/png", Size: 2048, SHA256: digest("chat image " + id),
			Status: status, CreatedAt: created, UploadExpiresAt: created.Add(15 * time.Minute), UpdatedAt: created}
	}
	img1 := image("ci_golden1", core.StatusReady, gt.Add(-90*time.Minute))
	img1.UpdatedAt = img1.CreatedAt.Add(time.Minute)
	g.images = []core.ChatImage{img1, image("ci_golden2", core.StatusPending, gt.Add(-5*time.Minute))}

	// sh_golden1: claimed idempotency key, two devices bound, two views.
	sh1 := goldenShare("sh_golden1", gt.Add(-time.Hour), gt.Add(time.Hour))
	sh1.IdempotencyKey, sh1.RequestHash = "idem-1", digest("request of sh_golden1")
	g.claimed = sh1
	sh1.Devices, sh1.ViewsUsed = []string{"dev-a", "dev-b"}, 2
	// sh_golden2: revoked by its patient.
	sh2 := goldenShare("sh_golden2", gt.Add(-50*time.Minute), gt.Add(2*time.Hour))
	sh2.Status, sh2.RevokedAt, sh2.RevokedBy, sh2.RevokeReason = core.ShareRevoked, gt.Add(-40*time.Minute), gPatient, "changed my mind"
	// sh_golden3: expired by the cleanup job.
	sh3 := goldenShare("sh_golden3", gt.Add(-3*time.Hour), gt.Add(-time.Hour))
	sh3.Status = core.ShareExpired
	g.shares = []core.Share{sh1, sh2, sh3}

	access := func(id, device string, at time.Time) core.Access {
		return core.Access{ID: id, ShareID: sh1.ID, PatientID: gPatient, ProfessionalID: gPro, KEM: 0x0020,
			DevicePublicKey: digest("public key of " + device), DeviceFingerprint: device,
			SourceIP: "198.51.100.23", UserAgent: "MedShare/2.1 (iPhone)", CreatedAt: at,
			ExpiresAt: at.Add(sh1.AccessWindow), ShareExpiresAt: sh1.ExpiresAt, Photos: sh1.Photos}
	}
	ac1 := access("ac_golden1", "dev-a", gt.Add(-30*time.Minute))
	ac2 := access("ac_golden2", "dev-b", gt.Add(-20*time.Minute))
	g.flagged, g.flag = ac1, "ip:203.0.113.9"
	ac1.Score = 2
	g.accesses = []core.Access{ac1, ac2}

	key := func(id string, a core.Access, at time.Time) core.EphemeralKey {
		return core.EphemeralKey{ID: id, AccessID: a.ID, ShareID: sh1.ID, PhotoID: "ph_golden1", PatientID: gPatient,
			ProfessionalID: gPro, ObjectKey: core.PhotoObjectKey(gPatient, "ph_golden1"), Status: core.KeyIssued,
			CreatedAt: at, ExpiresAt: at.Add(core.MaxKeyTTL), ShareExpiresAt: sh1.ExpiresAt}
	}
	ek1 := key("ek_golden1", ac1, gt.Add(-15*time.Minute))
	ek1.Status, ek1.UsedAt = core.KeyUsed, ek1.CreatedAt.Add(5*time.Second)
	g.keys = []core.EphemeralKey{ek1, key("ek_golden2", ac2, gt.Add(-10*time.Minute))}

	g.inbox = []core.InboxItem{
		{Notification: goldenNote("nt_golden01", gPro, core.NoteSessionCreated, sh1.ID, sh1.CreatedAt), Read: true},
		{Notification: goldenNote("nt_golden02", gPatient, core.NoteSessionAccess, sh1.ID, ac1.CreatedAt), Published: true},
		{Notification: goldenNote("nt_golden03", gPatient, core.NoteSessionAccess, sh1.ID, ac2.CreatedAt)},
		{Notification: goldenNote("nt_golden04", gPatient, core.NoteDeviceMismatch, sh1.ID, ac2.CreatedAt.Add(time.Second))},
		{Notification: goldenNote("nt_golden05", gPatient, core.NotePhotoViewed, sh1.ID, ek1.CreatedAt)},
		{Notification: goldenNote("nt_golden06", gPatient, core.NotePhotoViewed, sh1.ID, g.keys[1].CreatedAt)},
		{Notification: goldenNote("nt_golden07", gPatient, core.NoteSuspicious, sh1.ID, gt.Add(-9*time.Minute))},
		{Notification: goldenNote("nt_golden08", gPro, core.NoteSessionCreated, sh2.ID, sh2.CreatedAt)},
		{Notification: goldenNote("nt_golden09", gPro, core.NoteSessionRevoked, sh2.ID, sh2.RevokedAt)},
		{Notification: goldenNote("nt_golden10", gPro, core.NoteSessionCreated, sh3.ID, sh3.CreatedAt)},
		{Notification: goldenNote("nt_golden11", gPatient, core.NoteSessionExpired, sh3.ID, gt)},
		{Notification: goldenNote("nt_golden12", gPro, core.NoteSessionExpired, sh3.ID, gt)},
	}

	// The chain, in the order of the writes (unlinked: link links them).
	v1 := goldenRecord(gClinic, core.RoleClinic, "appointment.register", "appointment", appt.ID, appt.CreatedAt)
	v1.Version, v1.PhotoID, v1.ShareID, v1.Device = core.AuditVersion1, "", "", ""
	probe := goldenRecord("dr-x", core.RoleProfessional, "chat_image.signed_url", "chat_image", img1.ID, img1.UpdatedAt)
	probe.Outcome, probe.Reason = core.OutcomeDenied, core.CodeNotFound
	mismatch := goldenRecord(gPro, core.RoleProfessional, "access.open", "share", sh1.ID, g.inbox[3].CreatedAt)
	mismatch.Outcome, mismatch.Reason, mismatch.Device = core.OutcomeDenied, core.CodeDeviceMismatch, "dev-c"
	expire := goldenRecord(core.CleanupID, core.RoleSystem, "share.expire", "share", sh3.ID, gt)
	g.records = []core.AuditRecord{
		v1, probe,
		goldenRecord(gPatient, core.RolePatient, "share.create", "share", sh1.ID, sh1.CreatedAt),
		goldenRecord(gPro, core.RoleProfessional, "access.open", "access", ac1.ID, ac1.CreatedAt),
		goldenRecord(gPro, core.RoleProfessional, "access.open", "access", ac2.ID, ac2.CreatedAt),
		mismatch,
		goldenRecord(gPro, core.RoleProfessional, "key.issue", "key", ek1.ID, ek1.CreatedAt),
		goldenRecord(gPro, core.RoleProfessional, "key.claim", "key", ek1.ID, ek1.UsedAt),
		goldenRecord(gPro, core.RoleProfessional, "key.issue", "key", g.keys[1].ID, g.keys[1].CreatedAt),
		goldenRecord(gPro, core.RoleProfessional, "activity.report", "access", ac1.ID, g.inbox[6].CreatedAt),
		goldenRecord(gPatient, core.RolePatient, "share.create", "share", sh2.ID, sh2.CreatedAt),
		goldenRecord(gPatient, core.RolePatient, "share.revoke", "share", sh2.ID, sh2.RevokedAt),
		goldenRecord(gPatient, core.RolePatient, "share.create", "share", sh3.ID, sh3.CreatedAt),
		expire,
	}
	g.records = link(g.records)

	g.watermarks = map[core.DueKind]time.Time{core.DueShare: gt.Add(-2 * time.Hour), core.DueKey: gt.Add(-time.Hour)}
	g.report = core.DailyReport{Day: time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC), GeneratedAt: time.Date(2026, 3, 14, 0, 15, 0, 123456789, time.UTC),
		ReportCounts: core.ReportCounts{SharesCreated: 1, SharesRevoked: 2, SharesAutoRevoked: 3, SharesExpired: 4, Views: 5, SuspiciousEvents: 6, ChatImageFetches: 7}}
	return g
}

// link links records into one chain, in order; a record of version 1 keeps
// it (Link makes the current version).
func link(records []core.AuditRecord) []core.AuditRecord {
	var head core.ChainHead
	out := make([]core.AuditRecord, len(records))
	for i, r := range records {
		l := core.Link(r, head)
		if r.Version != 0 {
			l.Version = r.Version
			l.Hash = core.AuditHash(l)
		}
		out[i], head = l, core.ChainHead{Seq: l.Seq, Hash: l.Hash}
	}
	return out
}

// writeGoldenFile writes goldenWorld to a new store file at path through
// the ports, each entity with the write that the service makes it with.
func writeGoldenFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("%s exists: golden files are never rewritten, name a new one", path)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	g := goldenWorld()
	ctx := t.Context()
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("write golden file: %s: %v", what, err)
		}
	}
	recs := g.records
	rec := func() core.AuditRecord {
		r := recs[0]
		recs = recs[1:]
		return r
	}
	note := func(id string) core.Notification {
		for _, it := range g.inbox {
			if it.ID == id {
				return it.Notification
			}
		}
		t.Fatalf("no golden notification %s", id)
		return core.Notification{}
	}

	ready, pending := g.photos[0], g.photos[1]
	ready.Status, ready.UpdatedAt = core.StatusPending, ready.CreatedAt
	step("create photo 1", s.CreatePhoto(ctx, ready))
	_, err = s.MarkPhotoReady(ctx, gPatient, ready.ID, core.BlobInfo{Size: ready.Size, SHA256: ready.SHA256}, g.photos[0].UpdatedAt)
	step("photo 1 ready", err)
	step("create photo 2", s.CreatePhoto(ctx, pending))

	for _, a := range g.appointments {
		a.ImageCount = 0
		_, err := s.PutAppointment(ctx, a)
		step("put appointment "+a.ClinicID, err)
	}
	img1 := g.images[0]
	img1.Status, img1.UpdatedAt = core.StatusPending, img1.CreatedAt
	step("create chat image 1", s.CreateChatImage(ctx, img1))
	_, err = s.MarkChatImageReady(ctx, img1.ID, core.BlobInfo{Size: img1.Size, SHA256: img1.SHA256}, g.images[0].UpdatedAt)
	step("chat image 1 ready", err)
	step("create chat image 2", s.CreateChatImage(ctx, g.images[1]))

	step("append v1 record", s.AppendAudit(ctx, rec()))
	step("append probe", s.AppendAudit(ctx, rec()))

	sh1, sh2, sh3 := g.claimed, g.shares[1], g.shares[2]
	step("create share 1", s.CreateShare(ctx, sh1, rec(), note("nt_golden01")))
	ac1, ac2 := g.flagged, g.accesses[1]
	step("open access 1", s.OpenAccess(ctx, ac1, ac1.CreatedAt, rec(), note("nt_golden02")))
	step("open access 2", s.OpenAccess(ctx, ac2, ac2.CreatedAt, rec(), note("nt_golden03")))
	step("device refused", s.AppendAudit(ctx, rec(), note("nt_golden04")))
	ek1, ek2 := g.keys[0], g.keys[1]
	ek1.Status, ek1.UsedAt = core.KeyIssued, time.Time{}
	step("issue key 1", s.IssueKey(ctx, ek1, ek1.CreatedAt, rec(), note("nt_golden05")))
	_, err = s.ClaimKey(ctx, ek1, gPro, g.keys[0].UsedAt, rec())
	step("claim key 1", err)
	step("issue key 2", s.IssueKey(ctx, ek2, ek2.CreatedAt, rec(), note("nt_golden06")))
	suspicious := note("nt_golden07")
	step("add suspicion", s.AddSuspicion(ctx, ac1.ID, 0, g.accesses[0].Score, g.flag, rec(), suspicious))

	active2 := sh2
	active2.Status, active2.RevokedAt, active2.RevokedBy, active2.RevokeReason = core.ShareActive, time.Time{}, "", ""
	step("create share 2", s.CreateShare(ctx, active2, rec(), note("nt_golden08")))
	_, err = s.RevokeShare(ctx, sh2.ID, gPatient, sh2.RevokedAt, sh2.RevokeReason, rec(), note("nt_golden09"))
	step("revoke share 2", err)
	active3 := sh3
	active3.Status = core.ShareActive
	step("create share 3", s.CreateShare(ctx, active3, rec(), note("nt_golden10")))
	_, err = s.ExpireShare(ctx, sh3.ID, gt, rec(), []core.Notification{note("nt_golden11"), note("nt_golden12")}...)
	step("expire share 3", err)
	if len(recs) != 0 {
		t.Fatalf("write golden file: %d records left unwritten", len(recs))
	}

	for _, it := range g.inbox {
		if it.Read {
			_, err := s.MarkRead(ctx, it.RecipientID, it.ID)
			step("mark read "+it.ID, err)
		}
		if it.Published {
			step("mark published "+it.ID, s.MarkPublished(ctx, it.RecipientID, it.ID))
		}
	}
	for kind, at := range g.watermarks {
		step("watermark "+string(kind), s.SetJobWatermark(ctx, kind, at))
	}
	step("daily report", s.PutDailyReport(ctx, g.report))
}

// checkGolden reads every entity of g back from s through the ports, and
// checks the writes that the stored state refuses (a claimed idempotency
// key, a counted flag, a moved score).
func checkGolden(t *testing.T, s *Store, g golden) {
	ctx := t.Context()
	want := func(what string, want, got any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", what, diff)
		}
	}
	all := core.Page{Limit: 100}

	for _, p := range g.photos {
		got, err := s.GetPhoto(ctx, p.OwnerID, p.ID)
		want("GetPhoto "+p.ID, p, got, err)
	}
	photos, _, err := s.ListPhotos(ctx, gPatient, all)
	want("ListPhotos", g.photos, photos, err)

	for _, a := range g.appointments {
		got, err := s.GetAppointment(ctx, a.ClinicID, a.ID)
		want("GetAppointment "+a.ClinicID, a, got, err)
	}
	found, err := s.FindAppointments(ctx, "appt-1")
	want("FindAppointments", g.appointments, found, err)
	for _, img := range g.images {
		got, err := s.GetChatImage(ctx, img.ID)
		want("GetChatImage "+img.ID, img, got, err)
	}
	listed, _, err := s.ListChatImages(ctx, gClinic, "appt-1", gPro, all)
	want("ListChatImages", g.images[:1], listed, err)

	head, err := s.AuditHead(ctx, gPatient)
	last := g.records[len(g.records)-1]
	want("AuditHead", core.ChainHead{Seq: last.Seq, Hash: last.Hash}, head, err)
	chain, _, err := s.ListAudit(ctx, gPatient, false, all)
	want("ListAudit", g.records, chain, err)
	v, err := core.VerifyChain(ctx, s, gPatient)
	want("VerifyChain", core.AuditVerification{Valid: true, Records: uint64(len(g.records)), HeadSeq: last.Seq, HeadHash: last.Hash}, v, err)
	for _, actor := range []string{gClinic, gPatient, gPro, "dr-x", core.CleanupID} {
		var history []core.AuditRecord
		for _, r := range g.records {
			if r.ActorID == actor && r.InActorHistory() {
				history = append(history, r)
			}
		}
		// Newest first; no two golden records of one actor share a time.
		slices.SortFunc(history, func(a, b core.AuditRecord) int { return b.At.Compare(a.At) })
		got, _, err := s.ListAuditByActor(ctx, actor, all)
		want("ListAuditByActor "+actor, nonNil(history), got, err)
	}
	counts := map[string]int64{}
	for _, r := range g.records {
		counts[r.StatKey()]++
	}
	counts["share.create|denied|patient"] = 0
	for key, n := range counts {
		got, err := s.CountAudit(ctx, gt, key)
		want("CountAudit "+key, n, got, err)
	}

	for _, sh := range g.shares {
		got, err := s.GetShare(ctx, sh.ID)
		want("GetShare "+sh.ID, sh, got, err)
	}
	byCreated := slices.SortedFunc(slices.Values(g.shares), func(a, b core.Share) int { return b.CreatedAt.Compare(a.CreatedAt) })
	for _, role := range []core.Role{core.RolePatient, core.RoleProfessional} {
		party := map[core.Role]string{core.RolePatient: gPatient, core.RoleProfessional: gPro}[role]
		got, _, err := s.ListShares(ctx, party, role, all)
		want("ListShares "+party, byCreated, got, err)
	}
	for _, a := range g.accesses {
		got, err := s.GetAccess(ctx, a.ID)
		want("GetAccess "+a.ID, a, got, err)
	}
	for _, k := range g.keys {
		got, err := s.GetKey(ctx, k.ID)
		want("GetKey "+k.ID, k, got, err)
	}
	for _, recipient := range []string{gPatient, gPro} {
		var inbox []core.InboxItem
		for _, it := range g.inbox {
			if it.RecipientID == recipient {
				inbox = append(inbox, it)
			}
		}
		slices.Reverse(inbox) // newest first by id
		got, _, err := s.ListInbox(ctx, recipient, all)
		want("ListInbox "+recipient, inbox, got, err)
	}
	for _, it := range g.inbox {
		got, err := s.GetNotification(ctx, it.RecipientID, it.ID)
		want("GetNotification "+it.ID, it, got, err)
	}

	for _, kind := range core.DueKinds {
		got, err := s.JobWatermark(ctx, kind)
		want("JobWatermark "+string(kind), g.watermarks[kind], got, err)
		var due []core.DueItem
		for _, it := range goldenDue(g) {
			if it.Kind == kind {
				due = append(due, it)
			}
		}
		items, _, err := s.ListDue(ctx, kind, gt.Add(-6*time.Hour), gt.Add(6*time.Hour), all)
		slices.SortFunc(items, func(a, b core.DueItem) int { return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.ID, b.ID)) })
		want("ListDue "+string(kind), nonNil(due), items, err)
	}
	report, err := s.GetDailyReport(ctx, g.report.Day)
	want("GetDailyReport", g.report, report, err)

	// What the stored state refuses: the share's claim of its idempotency
	// key, the access's counted flag and its score.
	again := goldenShare("sh_golden4", gt, gt.Add(time.Hour))
	again.IdempotencyKey = g.claimed.IdempotencyKey
	err = s.CreateShare(ctx, again, core.Link(goldenRecord(gPatient, core.RolePatient, "share.create", "share", again.ID, gt), head), goldenNote("nt_golden13", gPro, core.NoteSessionCreated, again.ID, gt))
	var replay *core.IdempotencyReplayError
	if !errors.As(err, &replay) {
		t.Errorf("CreateShare with the claimed idempotency key: got %v, want *core.IdempotencyReplayError", err)
	} else {
		want("the idempotency claim", core.IdempotencyReplayError{ShareID: g.claimed.ID, RequestHash: g.claimed.RequestHash}, *replay, nil)
	}
	next := core.Link(goldenRecord(gPro, core.RoleProfessional, "activity.report", "access", g.flagged.ID, gt), head)
	if err := s.AddSuspicion(ctx, g.flagged.ID, 2, 3, g.flag, next); !errors.Is(err, core.ErrAlreadyFlagged) {
		t.Errorf("AddSuspicion with the counted flag: got %v, want core.ErrAlreadyFlagged", err)
	}
	var moved *core.ScoreMovedError
	if err := s.AddSuspicion(ctx, g.flagged.ID, 0, 1, "", next); !errors.As(err, &moved) || moved.Current != 2 {
		t.Errorf("AddSuspicion from score 0: got %v, want *core.ScoreMovedError with the stored score 2", err)
	}
}

// goldenDue is every item of g that is due, with its due time.
func goldenDue(g golden) []core.DueItem {
	due := func(at time.Time) time.Time { return at.Truncate(time.Second).Add(time.Second) } // golden times have nanoseconds
	out := []core.DueItem{
		{Kind: core.DueUpload, Due: due(g.photos[1].UploadExpiresAt), ID: g.photos[1].ID, Owner: gPatient},
		{Kind: core.DueUpload, Due: due(g.images[1].UploadExpiresAt), ID: g.images[1].ID},
		{Kind: core.DueShare, Due: due(g.shares[0].ExpiresAt), ID: g.shares[0].ID},
	}
	for _, k := range g.keys {
		out = append(out, core.DueItem{Kind: core.DueKey, Due: due(k.ExpiresAt), ID: k.ID})
	}
	for _, it := range g.inbox {
		if !it.Published {
			out = append(out, core.DueItem{Kind: core.DueNotification, Due: due(it.CreatedAt), ID: it.ID, Owner: it.RecipientID})
		}
	}
	slices.SortFunc(out, func(a, b core.DueItem) int { return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.ID, b.ID)) })
	return out
}

// nonNil makes a list the ports return when it is empty: an empty slice,
// not nil.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
