package core

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// ChainHead is the last link of a patient's audit chain. The zero value is the
// head of an empty chain.
type ChainHead struct {
	Seq  uint64
	Hash []byte
}

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeDenied  = "denied"
	OutcomeFailed  = "failed"
)

// AuditAction names the security event an audit record records. The set is
// closed: one constant per action, listed by AuditActions, which the
// service writes, the daily report counts (by constant, so that a typo is a
// compile error rather than a count that stays zero) and the contract
// suites check. The strings are stored and covered by the record's hash:
// they never change, and a new action is a new constant
// (TestAuditActionsAreClosed pins the list).
type AuditAction string

// The audit actions (ARCHITECTURE §2.8 says when each is written).
const (
	AuditAppointmentRegister AuditAction = "appointment.register"  // a clinic registered or updated an appointment
	AuditPhotoFinalize       AuditAction = "photo.finalize"        // a photo's upload was checked (success) or refused (denied)
	AuditPhotoDelete         AuditAction = "photo.delete"          // a photo was deleted
	AuditPhotoView           AuditAction = "photo.view"            // a patient's own photo key was sealed to one of their devices
	AuditChatImageUpload     AuditAction = "chat_image.upload"     // a chat image was finalized
	AuditChatImageSignedURL  AuditAction = "chat_image.signed_url" // a chat image's signed URL was granted or refused
	AuditChatImageMigrate    AuditAction = "chat_image.migrate"    // an image of the legacy chat was copied into private storage and made ready
	AuditChatImageResolve    AuditAction = "chat_image.resolve"    // an old chat URL was resolved to its migrated image (success) or refused (denied)
	AuditChatImageLegacyURL  AuditAction = "chat_image.legacy_url" // an old chat URL not yet migrated was handed back for a while
	AuditShareCreate         AuditAction = "share.create"          // a patient created a sharing session
	AuditShareRevoke         AuditAction = "share.revoke"          // a session was revoked, by its patient or the detector
	AuditShareExpire         AuditAction = "share.expire"          // the cleanup job expired a session
	AuditAccessOpen          AuditAction = "access.open"           // a grantee opened an access, or was refused one
	AuditKeyIssue            AuditAction = "key.issue"             // a view: a key was issued, or refused
	AuditKeyClaim            AuditAction = "key.claim"             // a key was claimed for a signed URL, or refused
	AuditActivityReport      AuditAction = "activity.report"       // an activity report or a detector's signal was scored
)

// AuditActions returns every audit action, in the order of the constants.
func AuditActions() []AuditAction {
	return []AuditAction{
		AuditAppointmentRegister, AuditPhotoFinalize, AuditPhotoDelete, AuditPhotoView,
		AuditChatImageUpload, AuditChatImageSignedURL,
		AuditChatImageMigrate, AuditChatImageResolve, AuditChatImageLegacyURL,
		AuditShareCreate, AuditShareRevoke, AuditShareExpire,
		AuditAccessOpen, AuditKeyIssue, AuditKeyClaim, AuditActivityReport,
	}
}

// Valid reports whether a is one of AuditActions. A stored record may hold
// any string (a tampered one does); only the service's own are valid.
func (a AuditAction) Valid() bool {
	for _, b := range AuditActions() {
		if a == b {
			return true
		}
	}
	return false
}

// Canonical versions of an audit record (AuditHash). A record keeps the
// version it was hashed under: version 0 (a record stored before versions
// existed) and 1 are the first form, which covers the fields up to
// RequestID; version 2 also covers PhotoID, ShareID and Device. Link makes
// every new record AuditVersion; stored records of an older version still
// verify under their own.
const (
	AuditVersion1 = 1
	AuditVersion2 = 2
	// AuditVersion is the version of the records Link makes.
	AuditVersion = AuditVersion2
)

// AuditRecord is one security event in a patient's chain. It holds ids and
// facts about the request, never PHI, keys or URLs.
type AuditRecord struct {
	// Version is the canonical form the hash covers (AuditVersion1 when 0).
	Version      int
	PatientID    string
	Seq          uint64
	At           time.Time
	ActorID      string
	ActorRole    Role
	Action       AuditAction
	ResourceType string
	ResourceID   string
	Outcome      string
	Reason       string // a stable code when the outcome is not success
	SourceIP     string
	UserAgent    string
	RequestID    string
	// PhotoID, ShareID and Device (version 2) name what a view was of and
	// where it happened: the photo, the sharing session, and the server's
	// fingerprint of the device key (DeviceKeyFingerprint). Empty when the
	// event concerns none.
	PhotoID  string
	ShareID  string
	Device   string
	PrevHash []byte
	Hash     []byte
}

// canonicalFields are the fields the canonical forms of both versions
// start with, in this order. encoding/json writes struct fields in
// declaration order and an embedded struct's fields where it is embedded,
// so each form's encoding is deterministic. Changing them breaks every
// stored chain: add a new version instead.
type canonicalFields struct {
	V            int    `json:"v"`
	PatientID    string `json:"patient_id"`
	Seq          uint64 `json:"seq"`
	At           string `json:"at"`
	ActorID      string `json:"actor_id"`
	ActorRole    string `json:"actor_role"`
	Action       string `json:"action"`
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id"`
	Outcome      string `json:"outcome"`
	Reason       string `json:"reason"`
	SourceIP     string `json:"source_ip"`
	UserAgent    string `json:"user_agent"`
	RequestID    string `json:"request_id"`
}

// canonicalRecord is the canonical form that the hash of a version 1
// record covers: the common fields, then prev_hash.
type canonicalRecord struct {
	canonicalFields
	PrevHash string `json:"prev_hash"`
}

// canonicalRecordV2 is the canonical form of a version 2 record: version 1's
// fields in the same order, then photo_id, share_id and device, then
// prev_hash last as before. Never change it either.
type canonicalRecordV2 struct {
	canonicalFields
	PhotoID  string `json:"photo_id"`
	ShareID  string `json:"share_id"`
	Device   string `json:"device"`
	PrevHash string `json:"prev_hash"`
}

// InActorHistory reports whether r is listed in its actor's own history
// (AuditStore.ListAuditByActor): a record of what the actor did, or of a
// denial whose precise reason the actor was told (a grantee's 410s and
// device_mismatch). A denial the actor got as the same 404 that an unknown
// id gets is not listed, nor is the record that marks a run of denials as
// rate limited: listing them would tell a stranger that the thing they
// asked for exists (ARCHITECTURE §2.1). Both stay in the patient's chain. A
// record without an actor is not listed.
func (r AuditRecord) InActorHistory() bool {
	if r.ActorID == "" {
		return false
	}
	if r.Outcome == OutcomeSuccess {
		return true
	}
	switch r.Reason {
	case CodeSessionExpired, CodeSessionRevoked, CodeViewsExhausted, CodeKeyUsed, CodeKeyExpired, CodeDeviceMismatch:
		return r.Outcome == OutcomeDenied
	}
	return false
}

// AuditHash returns the SHA-256 of the record's canonical form under its
// Version, which includes the previous hash and so links the chain.
// rec.Hash is not part of it. A record of an unknown version has no hash:
// AuditHash returns nil, which no stored hash equals (VerifyRecord).
func AuditHash(rec AuditRecord) []byte {
	prev := hex.EncodeToString(rec.PrevHash)
	common := func(v int) canonicalFields {
		return canonicalFields{
			V:            v,
			PatientID:    rec.PatientID,
			Seq:          rec.Seq,
			At:           rec.At.UTC().Format(time.RFC3339Nano),
			ActorID:      rec.ActorID,
			ActorRole:    string(rec.ActorRole),
			Action:       string(rec.Action),
			ResourceType: rec.ResourceType,
			ResourceID:   rec.ResourceID,
			Outcome:      rec.Outcome,
			Reason:       rec.Reason,
			SourceIP:     rec.SourceIP,
			UserAgent:    rec.UserAgent,
			RequestID:    rec.RequestID,
		}
	}
	var v any
	switch rec.Version {
	case 0, AuditVersion1:
		v = canonicalRecord{canonicalFields: common(AuditVersion1), PrevHash: prev}
	case AuditVersion2:
		v = canonicalRecordV2{canonicalFields: common(AuditVersion2), PhotoID: rec.PhotoID, ShareID: rec.ShareID, Device: rec.Device, PrevHash: prev}
	default:
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil { // only strings and numbers: cannot fail
		panic(fmt.Sprintf("audit: canonical encoding: %v", err))
	}
	// The prefix stays that of version 1: the "v" member, first in both
	// forms, already tells the versions apart.
	sum := sha256.Sum256(append([]byte("medshare/v1/audit\x00"), b...))
	return sum[:]
}

// Link fills rec's version (AuditVersion: every new record is hashed under
// the current canonical form), sequence, previous hash and hash so that it
// follows head. Its text fields come back as the hash covers them
// (canonicalText), so that the record it returns is the record every store
// keeps.
func Link(rec AuditRecord, head ChainHead) AuditRecord {
	rec.Version = AuditVersion
	for _, f := range rec.textFields() {
		*f = canonicalText(*f)
	}
	rec.Seq = head.Seq + 1
	rec.PrevHash = head.Hash
	rec.At = rec.At.UTC()
	rec.Hash = AuditHash(rec)
	return rec
}

// textFields are the record's text fields, the ones AuditHash encodes as JSON
// strings.
func (r *AuditRecord) textFields() []*string {
	return []*string{&r.PatientID, &r.ActorID, (*string)(&r.ActorRole), (*string)(&r.Action), &r.ResourceType,
		&r.ResourceID, &r.Outcome, &r.Reason, &r.SourceIP, &r.UserAgent, &r.RequestID,
		&r.PhotoID, &r.ShareID, &r.Device}
}

// canonicalText is s as the canonical encoding hashes it. encoding/json
// writes every byte that is not valid UTF-8 as U+FFFD, so two records that
// differ only in such bytes ("\xff" and "\xfe") hash alike: Link stores the
// replacement it hashed, and VerifyRecord refuses a record holding any other
// byte, which Link cannot have produced (found by FuzzAuditRecord,
// docs/FUZZING.md).
func canonicalText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// auditor appends records to chains. Within one process appends to one chain
// are serialized by a lock of that chain's own, which keeps contention off the
// store and never holds an append to one chain behind another's; across
// processes (Lambda instances) the store's conditional append keeps the chain
// linear, and a moved head is retried with the head the store returned, so a
// conflict costs no extra read.
type auditor struct {
	store AuditStore
	locks chainLocks
	heads sync.Map // patient id -> ChainHead, the last head this process saw
}

// chainLocks holds one lock per chain that has an append under way (or
// waiting): an entry lives while someone holds or waits for it. A fixed set
// of striped locks made two patients' appends wait for each other whenever
// their ids fell on one stripe, which under group commit (the embedded
// store) is a whole commit's wait.
type chainLocks struct {
	mu sync.Mutex
	m  map[string]*chainLock
}

type chainLock struct {
	sync.Mutex
	users int // holders and waiters; guarded by chainLocks.mu
}

// lock locks patientID's chain and returns its unlock.
func (l *chainLocks) lock(patientID string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*chainLock{}
	}
	c := l.m[patientID]
	if c == nil {
		c = &chainLock{}
		l.m[patientID] = c
	}
	c.users++
	l.mu.Unlock()
	c.Lock()
	return func() {
		c.Unlock()
		l.mu.Lock()
		if c.users--; c.users == 0 {
			delete(l.m, patientID)
		}
		l.mu.Unlock()
	}
}

// held is the number of chains locked or waited for (tests).
func (l *chainLocks) held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

const maxAppendAttempts = 64

// appendBackoff is how long an append waits, at most, before its attempt
// after the given number of lost races: nothing for the first two, then a
// millisecond doubling up to maxAppendBackoff. Within one process appends
// to a chain are serialized (chainLocks), so only writers in other
// processes race. Without a wait the loser can starve: the winner's next
// append, already linked to the head it just wrote, reaches the store
// before the loser's retry, again and again (seen with two services on one
// bbolt store under group commit: TestAuditAcrossProcesses). The wait is
// random, so that two losers do not retry in step.
func appendBackoff(lost int) time.Duration {
	if lost < 2 {
		return 0
	}
	d := maxAppendBackoff
	if lost-2 < 6 {
		d = min(time.Millisecond<<(lost-2), maxAppendBackoff)
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

const maxAppendBackoff = 32 * time.Millisecond

// append links rec to its patient's chain and stores it.
func (a *auditor) append(ctx context.Context, rec AuditRecord) (AuditRecord, error) {
	return a.chained(ctx, rec, func(linked AuditRecord) error { return a.store.AppendAudit(ctx, linked) })
}

// chained links rec to its patient's chain and runs write with it: write
// stores the record, alone or atomically with the state change it records.
// When the head moved, write must have written nothing and returned
// *HeadMismatchError; the record is linked to the head it carries and write
// runs again.
func (a *auditor) chained(ctx context.Context, rec AuditRecord, write func(linked AuditRecord) error) (AuditRecord, error) {
	defer a.locks.lock(rec.PatientID)()

	var head ChainHead
	if v, ok := a.heads.Load(rec.PatientID); ok {
		head = v.(ChainHead)
	} else {
		h, err := a.store.AuditHead(ctx, rec.PatientID)
		if err != nil {
			return AuditRecord{}, fmt.Errorf("audit head of %s: %w", rec.PatientID, err)
		}
		head = h
	}
	for attempt := 0; attempt < maxAppendAttempts; attempt++ {
		linked := Link(rec, head)
		err := write(linked)
		if err == nil {
			a.heads.Store(rec.PatientID, ChainHead{Seq: linked.Seq, Hash: linked.Hash})
			return linked, nil
		}
		var moved *HeadMismatchError
		if !errors.As(err, &moved) {
			return AuditRecord{}, err
		}
		head = moved.Current
		a.heads.Store(rec.PatientID, head)
		if d := appendBackoff(attempt + 1); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return AuditRecord{}, ctx.Err()
			case <-t.C:
			}
		}
	}
	a.heads.Delete(rec.PatientID)
	return AuditRecord{}, ErrUnavailable(nil, "audit chain of %s is too contended", rec.PatientID)
}

// AuditVerification is the result of recomputing a chain.
type AuditVerification struct {
	Valid    bool
	Records  uint64
	HeadSeq  uint64
	HeadHash []byte
	// FirstBadSeq and Problem name the first link that does not verify.
	FirstBadSeq uint64
	Problem     string
}

// VerifyChain recomputes patient's chain page by page: every record's hash,
// every link to the previous hash, sequence without gaps, and the stored head.
func VerifyChain(ctx context.Context, s AuditStore, patientID string) (AuditVerification, error) {
	head, err := s.AuditHead(ctx, patientID)
	if err != nil {
		return AuditVerification{}, fmt.Errorf("verify audit of %s: %w", patientID, err)
	}
	v := AuditVerification{HeadSeq: head.Seq, HeadHash: head.Hash}
	var prev ChainHead
	fail := func(seq uint64, problem string) (AuditVerification, error) {
		v.Valid, v.FirstBadSeq, v.Problem = false, seq, problem
		return v, nil
	}
	page := Page{Limit: 500}
	for {
		recs, next, err := s.ListAudit(ctx, patientID, false, page)
		if err != nil {
			return AuditVerification{}, fmt.Errorf("verify audit of %s: %w", patientID, err)
		}
		for _, r := range recs {
			switch {
			case r.PatientID != patientID:
				return fail(r.Seq, "record belongs to another chain")
			case r.Seq != prev.Seq+1:
				return fail(prev.Seq+1, "sequence gap")
			case !bytes.Equal(r.PrevHash, prev.Hash):
				return fail(r.Seq, "previous hash does not match")
			case !VerifyRecord(r):
				return fail(r.Seq, "record hash does not match its content")
			}
			prev = ChainHead{Seq: r.Seq, Hash: r.Hash}
			v.Records++
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if prev.Seq != head.Seq || !bytes.Equal(prev.Hash, head.Hash) {
		return fail(prev.Seq+1, "chain does not end at the stored head")
	}
	v.Valid = true
	return v, nil
}

// VerifyRecord recomputes one record's hash under its version; used where a
// whole chain is not the caller's to read (a professional's own actions). A
// record of an unknown version never verifies, nor does a record whose text
// is not valid UTF-8: Link never produces one, and its hash would also be
// the hash of other text.
func VerifyRecord(r AuditRecord) bool {
	if r.Version < AuditVersion2 && (r.PhotoID != "" || r.ShareID != "" || r.Device != "") {
		// Version 1 does not cover these fields: a record that shows them
		// was written after the fact.
		return false
	}
	for _, f := range r.textFields() {
		if !utf8.ValidString(*f) {
			return false
		}
	}
	h := AuditHash(r)
	return h != nil && bytes.Equal(h, r.Hash)
}
