// Package migratetest makes a legacy chat library for the migration's
// tests: appointments, the objects of the legacy bucket and the chat
// system's export (JSON Lines), with what each line must become, some lines
// dead, some with a wrong checksum or size, in unknown appointments, sent by
// strangers, outside the legacy source, malformed or repeated. Check then
// proves that a migration left exactly one record, one object and one audit
// record per image, and nothing of a line that failed.
package migratetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/legacy"
	"github.com/medshare/medshare/shared/legacy/migrate"
)

// URLPrefix is where the library's objects were published; KeyPrefix is
// their keys' prefix in the legacy source.
const (
	URLPrefix = "https://old-chat.nyc3.digitaloceanspaces.com/"
	KeyPrefix = "" // the URL's path is the key
	Clinic    = "clinic-legacy"
)

// Line is one line of the export and what it must become.
type Line struct {
	Number int
	Raw    string
	// Outcome is migrate.Migrated for the first line of each image (or
	// migrate.AlreadyDone for a repeat: which of two identical lines copies
	// is a race, so Check counts them together), or migrate.Failed with
	// Reason.
	Outcome, Reason string
	// ImageID is the image a good line makes; Key its legacy object.
	ImageID, Key  string
	AppointmentID string
}

// Image is one image the migration must bring in.
type Image struct {
	ID, AppointmentID, PatientID, URL string
	Data                              []byte
}

// Appointment is one appointment of the library.
type Appointment struct {
	ID, PatientID string
	Professionals []string
}

// Library is the legacy chat: its appointments, objects and export.
type Library struct {
	Appointments []Appointment
	Objects      map[string][]byte // by key
	Lines        []Line
	Images       map[string]Image // by id
}

var (
	pngHead  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	jpegHead = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")
)

// New makes a library of n lines (n >= 100) from seed: about 80 % good
// images and, at fixed positions, every kind of bad line.
func New(seed uint64, n int) *Library { return newLibrary(seed, n, true, 0) }

// NewGood makes a library of n good lines: every line an image to migrate.
func NewGood(seed uint64, n int) *Library { return newLibrary(seed, n, false, 0) }

// NewGoodOfSize makes a library of n good lines whose images have size
// bytes each (the benchmark's: chat photos are hundreds of kilobytes).
func NewGoodOfSize(seed uint64, n, size int) *Library { return newLibrary(seed, n, false, size) }

func newLibrary(seed uint64, n int, bad bool, size int) *Library {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	lib := &Library{Objects: map[string][]byte{}, Images: map[string]Image{}}
	for i := range 5 {
		lib.Appointments = append(lib.Appointments, Appointment{
			ID: fmt.Sprintf("appt-legacy-%d", i), PatientID: fmt.Sprintf("pat-legacy-%d", i),
			Professionals: []string{fmt.Sprintf("pro-legacy-%d", i)},
		})
	}
	sent := time.Date(2023, 3, 14, 9, 0, 0, 0, time.UTC)
	object := func(i int) (string, []byte) {
		head, ext := pngHead, "png"
		if i%2 == 1 {
			head, ext = jpegHead, "jpg"
		}
		body := make([]byte, 512+rng.IntN(8192))
		if size > len(head) {
			body = make([]byte, size-len(head))
		}
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		return fmt.Sprintf("images/2023/%02d/%08x-%d.%s", 1+i%12, rng.Uint32(), i, ext), append(slices.Clone(head), body...)
	}
	record := func(i int, appt Appointment, sender, url string) map[string]any {
		return map[string]any{
			legacy.FieldMessageID: fmt.Sprintf("msg-%d", i), legacy.FieldAppointmentID: appt.ID, legacy.FieldSenderID: sender,
			legacy.FieldURL: url, legacy.FieldSentAt: sent.Add(time.Duration(i) * time.Minute).Format(time.RFC3339),
		}
	}
	add := func(rec map[string]any, raw string, outcome, reason, id, key, appt string) {
		if raw == "" {
			b, _ := json.Marshal(rec)
			raw = string(b)
		}
		lib.Lines = append(lib.Lines, Line{Number: len(lib.Lines) + 1, Raw: raw, Outcome: outcome, Reason: reason, ImageID: id, Key: key, AppointmentID: appt})
	}
	for i := range n {
		appt := lib.Appointments[i%len(lib.Appointments)]
		sender := appt.PatientID
		if i%3 == 0 {
			sender = appt.Professionals[0]
		}
		key, data := object(i)
		url := URLPrefix + key
		rec := record(i, appt, sender, url)
		sum := sha256.Sum256(data)
		kind := i % 40
		if !bad {
			kind = 0
		}
		switch {
		case kind == 7: // dead: the object was never in the bucket
			add(rec, "", migrate.Failed, legacy.ReasonDeadURL, "", key, appt.ID)
		case kind == 11: // a checksum of other bytes
			other := sha256.Sum256(append(data, 0))
			rec[legacy.FieldSHA256] = hex.EncodeToString(other[:])
			lib.Objects[key] = data
			add(rec, "", migrate.Failed, legacy.ReasonChecksumMismatch, "", key, appt.ID)
		case kind == 13: // a size the object has not
			rec[legacy.FieldSize] = len(data) + 1
			lib.Objects[key] = data
			add(rec, "", migrate.Failed, legacy.ReasonSizeMismatch, "", key, appt.ID)
		case kind == 17: // an appointment the clinic never registered
			rec[legacy.FieldAppointmentID] = fmt.Sprintf("appt-unknown-%d", i)
			lib.Objects[key] = data
			add(rec, "", migrate.Failed, legacy.ReasonUnknownAppointment, "", key, "")
		case kind == 19: // a sender who takes no part in the appointment
			rec[legacy.FieldSenderID] = "pro-stranger"
			lib.Objects[key] = data
			add(rec, "", migrate.Failed, legacy.ReasonSenderNotParticipant, "", key, appt.ID)
		case kind == 23: // outside the legacy source
			rec[legacy.FieldURL] = "https://elsewhere.example.com/" + key
			add(rec, "", migrate.Failed, legacy.ReasonOutsideSource, "", "", appt.ID)
		case kind == 29: // malformed: not JSON
			add(nil, `{"message_id": "msg-broken", "url": `, migrate.Failed, legacy.ReasonMalformed, "", "", "")
		case kind == 31: // malformed: a date that is none
			rec[legacy.FieldSentAt] = "last tuesday"
			add(rec, "", migrate.Failed, legacy.ReasonMalformed, "", "", "")
		case kind == 37 && len(lib.Images) > 0: // the previous good line again
			prev := lib.Lines[len(lib.Lines)-1]
			for j := len(lib.Lines) - 1; prev.Outcome != migrate.Migrated; j-- {
				prev = lib.Lines[j]
			}
			add(nil, prev.Raw, migrate.AlreadyDone, "", prev.ImageID, prev.Key, prev.AppointmentID)
		default:
			switch i % 4 { // what the line declares
			case 0:
				rec[legacy.FieldSHA256] = hex.EncodeToString(sum[:])
				rec[legacy.FieldSize] = len(data)
			case 1:
				rec[legacy.FieldContentType] = map[bool]string{true: "image/png", false: "image/jpeg"}[i%2 == 0]
			}
			lib.Objects[key] = data
			id := core.LegacyChatImageID(Clinic, appt.ID, url)
			lib.Images[id] = Image{ID: id, AppointmentID: appt.ID, PatientID: appt.PatientID, URL: url, Data: data}
			add(rec, "", migrate.Migrated, "", id, key, appt.ID)
		}
	}
	return lib
}

// Manifest is the export, JSON Lines.
func (lib *Library) Manifest() []byte {
	var b bytes.Buffer
	for _, l := range lib.Lines {
		b.WriteString(l.Raw + "\n")
	}
	return b.Bytes()
}

// Bytes is the size of the images.
func (lib *Library) Bytes() int64 {
	var n int64
	for _, img := range lib.Images {
		n += int64(len(img.Data))
	}
	return n
}

// RepeatBytes is the size of the images that a repeated line names.
func (lib *Library) RepeatBytes() int64 {
	var n int64
	for _, l := range lib.Lines {
		if l.Outcome == migrate.AlreadyDone {
			n += int64(len(lib.Images[l.ImageID].Data))
		}
	}
	return n
}

// Register registers the appointments with svc, as the clinic.
func (lib *Library) Register(ctx context.Context, svc *core.Service) error {
	now := time.Now().UTC()
	for _, a := range lib.Appointments {
		if _, _, err := svc.RegisterAppointment(ctx, core.Caller{ID: Clinic, Role: core.RoleClinic, RequestID: "migratetest"}, a.ID,
			core.AppointmentInput{PatientID: a.PatientID, ProfessionalIDs: a.Professionals, StartsAt: now, EndsAt: now.Add(time.Hour)}); err != nil {
			return fmt.Errorf("register %s: %w", a.ID, err)
		}
	}
	return nil
}

// Put stores the objects with put.
func (lib *Library) Put(put func(key string, data []byte) error) error {
	for k, d := range lib.Objects {
		if err := put(k, d); err != nil {
			return fmt.Errorf("put legacy %s: %w", k, err)
		}
	}
	return nil
}

// PutDir writes the objects as files under dir, each at its key's path, as
// a directory that a file server serves like the legacy bucket.
func (lib *Library) PutDir(dir string) error {
	return lib.Put(func(key string, data []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, data, 0o644)
	})
}

// WantSummary returns the counts a first full run must report: images
// migrated and repeats already done together in MigratedOrDone.
func (lib *Library) WantSummary() (migratedOrDone int, failedByReason map[string]int, failures []migrate.Result) {
	failedByReason = map[string]int{}
	for _, l := range lib.Lines {
		if l.Outcome == migrate.Failed {
			failedByReason[l.Reason]++
			failures = append(failures, migrate.Result{Line: l.Number, Outcome: migrate.Failed, Reason: l.Reason})
			continue
		}
		migratedOrDone++
	}
	return migratedOrDone, failedByReason, failures
}

// Stater reads private objects.
type Stater interface {
	Stat(ctx context.Context, key string) (core.BlobInfo, error)
}

// Check proves the state after a migration of lib that may have stopped:
// every image in migrated (nil: all of lib.Images) is READY with its
// bytes, listed once in its appointment, and has exactly one
// chat_image.migrate record in its patient's chain; no other image of the
// library (those not migrated yet, and every failed line's) has a READY
// record, an object or an audit record.
func (lib *Library) Check(t testing.TB, ctx context.Context, svc *core.Service, private Stater, migrated map[string]bool) {
	t.Helper()
	if migrated == nil {
		migrated = map[string]bool{}
		for id := range lib.Images {
			migrated[id] = true
		}
	}
	for id, img := range lib.Images {
		got, err := svc.GetLegacyImage(ctx, id)
		if !migrated[id] {
			if err == nil && got.Status == core.StatusReady {
				t.Errorf("image %s is ready, want it not migrated yet", id)
			}
			continue
		}
		sum := sha256.Sum256(img.Data)
		if err != nil || got.Status != core.StatusReady || got.Size != int64(len(img.Data)) || !bytes.Equal(got.SHA256, sum[:]) || got.LegacyURL != img.URL {
			t.Errorf("image %s: %+v %v, want ready with its %d bytes", id, got, err, len(img.Data))
			continue
		}
		info, err := private.Stat(ctx, got.ObjectKey())
		if err != nil || info.Size != int64(len(img.Data)) || !bytes.Equal(info.SHA256, sum[:]) {
			t.Errorf("object of %s: %+v %v, want its bytes", id, info, err)
		}
	}
	// The failed lines' images: never half-imported.
	for _, l := range lib.Lines {
		if l.Outcome != migrate.Failed || l.Key == "" || l.AppointmentID == "" {
			continue
		}
		var rec map[string]any
		json.Unmarshal([]byte(l.Raw), &rec)
		url, _ := rec[legacy.FieldURL].(string)
		id := core.LegacyChatImageID(Clinic, l.AppointmentID, url)
		if img, err := svc.GetLegacyImage(ctx, id); !core.IsKind(err, core.KindNotFound) {
			t.Errorf("line %d (%s): image %s is stored (%s, %v), want nothing", l.Number, l.Reason, id, img.Status, err)
		}
		if _, err := private.Stat(ctx, core.ChatImage{ID: id}.ObjectKey()); !core.IsKind(err, core.KindNotFound) {
			t.Errorf("line %d (%s): object of %s: %v, want none", l.Number, l.Reason, id, err)
		}
	}
	// Each appointment lists its migrated images once; each patient's chain
	// records each migration once.
	for _, a := range lib.Appointments {
		var want []string
		for id, img := range lib.Images {
			if img.AppointmentID == a.ID && migrated[id] {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		var got []string
		page := core.Page{Limit: core.MaxPageLimit}
		for {
			imgs, next, err := svc.ListChatImages(ctx, core.Caller{ID: a.PatientID, Role: core.RolePatient}, a.ID, Clinic, page)
			if err != nil {
				t.Fatalf("list %s: %v", a.ID, err)
			}
			for _, img := range imgs {
				got = append(got, img.ID)
			}
			if next == "" {
				break
			}
			page.Cursor = next
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("appointment %s lists %d images, want %d (each migrated image once)", a.ID, len(got), len(want))
		}
		records := map[string]int{}
		page = core.Page{Limit: core.MaxPageLimit}
		for {
			recs, next, err := svc.AccessHistory(ctx, core.Caller{ID: a.PatientID, Role: core.RolePatient}, page)
			if err != nil {
				t.Fatalf("history of %s: %v", a.PatientID, err)
			}
			for _, r := range recs {
				if r.Action == core.AuditChatImageMigrate {
					records[r.ResourceID]++
				}
			}
			if next == "" {
				break
			}
			page.Cursor = next
		}
		for id, n := range records {
			if !migrated[id] || n != 1 {
				t.Errorf("%s's chain records the migration of %s %d times, want %d", a.PatientID, id, n, map[bool]int{true: 1}[migrated[id]])
			}
		}
		for _, id := range want {
			if records[id] != 1 {
				t.Errorf("%s's chain records the migration of %s %d times, want 1", a.PatientID, id, records[id])
			}
		}
	}
}
