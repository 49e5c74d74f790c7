package core

import (
	"context"
	"time"
)

// Store is the one store port: everything the service keeps, in one table
// in DynamoDB (dynamostore) or one bbolt file (boltstore), made of small
// interfaces, one per kind of thing kept (LegacyStore, the imported
// images of the old public chat, is in legacy.go). One adapter implements all of
// them; the service holds it once (Deps.Store). The contract suite of the
// port is shared/store/storetest, a file per interface, which both adapters run.
//
// What holds for every method of every interface:
//
//   - One request. Each method is one DynamoDB request (a GetItem, a Query
//     page, a conditional PutItem, UpdateItem or DeleteItem, or one
//     TransactWriteItems) and one bbolt transaction, never a generic get or
//     put: the port is shaped by the operations, so that what one call
//     costs is fixed (docs/PERFORMANCE.md).
//   - Not found is an error of KindNotFound, never a zero value with a nil
//     error. Lists are the exception: nothing to list is an empty list.
//   - Atomic. A write writes all it says or nothing; a write that fails
//     (any error) has written nothing at all.
//   - State changes carry their record. A method that changes security
//     state takes the audit record of that change and the notifications it
//     causes as its last arguments, rec AuditRecord, notes ...Notification,
//     and writes the change, the record and each notification (in its
//     recipient's inbox, unread and unpublished, due for the relay) in one
//     atomic write: a change never lands without its record. The record
//     must follow its chain's head (AuditStore.AppendAudit); when the head
//     moved the method writes nothing and returns *HeadMismatchError, after
//     any refusal of the change itself (a refused call is refused whatever
//     the head, so relinking would not help). A notification id that exists
//     is KindConflict, after the head.
//   - Time. Times are absolute (time.Time), stored to the nanosecond and
//     returned in UTC; durations are time.Duration. A method that decides
//     by the clock takes `now` from its caller and reads no clock of its
//     own (Counter.Tally's forgetting aside). Expiry is checked at read
//     time: a thing past its expiry at now is expired, whatever a job did
//     or did not do yet (ARCHITECTURE §2.2).
//   - Lists. A page holds at most Page.Limit items (a default when 0) and
//     the cursor of the next page, "" at the end. A cursor is bound to its
//     list: a malformed cursor, or one of another list, is KindInvalid.
//   - Ids. Every id that goes into a key is checked (storekeys.CheckIDs): an
//     id that could escape its key is KindInvalid, and nothing is written.
type Store interface {
	PhotoStore
	ChatStore
	AuditStore
	ShareStore
	InboxStore
	JobStore
	LegacyStore
	Counter
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}

// PhotoStore keeps patients' photos, keyed by (owner, id): the same id
// under another owner is another photo.
type PhotoStore interface {
	// CreatePhoto stores a new photo (PENDING: due for the cleanup job at the
	// end of its upload window). KindConflict when a photo with the same
	// owner and id exists.
	CreatePhoto(ctx context.Context, p Photo) error

	// MarkPhotoReady moves the photo (owner, id) from PENDING to READY if the
	// observed object matches the declared size and SHA-256 and the upload
	// window has not passed at now, and returns the photo as stored
	// afterwards. Idempotent: a READY photo whose size and SHA-256 match is
	// returned unchanged. Errors, in this order: KindNotFound when there is
	// no such photo; KindConflict when it is READY and the object does not
	// match; KindNotFound when it was abandoned (PENDING at or past its
	// window, whatever was observed); KindConflict when the object does not
	// match.
	MarkPhotoReady(ctx context.Context, owner, id string, observed BlobInfo, now time.Time) (Photo, error)

	// GetPhoto returns the photo (owner, id) or KindNotFound.
	GetPhoto(ctx context.Context, owner, id string) (Photo, error)

	// ListPhotos returns owner's photos ordered by id, one page at a time.
	ListPhotos(ctx context.Context, owner string, page Page) ([]Photo, string, error)

	// DeletePhoto removes the photo (owner, id) and returns it as it was, so
	// that the caller can delete its object. KindNotFound when absent.
	DeletePhoto(ctx context.Context, owner, id string) (Photo, error)
}

// ChatStore keeps appointments and their chat images. Appointment ids are
// scoped to their clinic: another clinic's appointment with the same id is
// another appointment.
type ChatStore interface {
	// PutAppointment creates the appointment (a.ClinicID, a.ID) or replaces
	// the one that clinic registered with that id, keeping CreatedAt and
	// ImageCount, and reports whether it created it. It neither reads nor
	// changes another clinic's appointment with the id. KindConflict when
	// the appointment has chat images and its participants would change
	// (the patient, or the set of professionals: reordering them is no
	// change, Appointment.SameParticipants).
	PutAppointment(ctx context.Context, a Appointment) (created bool, err error)

	// GetAppointment returns clinicID's appointment id or KindNotFound.
	GetAppointment(ctx context.Context, clinicID, id string) (Appointment, error)

	// FindAppointments returns every clinic's appointment with id, ordered
	// by clinic id, in one strongly consistent read; none is an empty list.
	FindAppointments(ctx context.Context, id string) ([]Appointment, error)

	// CreateChatImage stores a new chat image (PENDING: due at the end of
	// its window) and counts it on its appointment (img.ClinicID,
	// img.AppointmentID), atomically, on condition that the appointment's
	// participants are still img.Participants (its patient first).
	// KindConflict when the id exists or the participants changed;
	// KindNotFound when the appointment is gone.
	CreateChatImage(ctx context.Context, img ChatImage) error

	// GetChatImage returns the image, with the participants who may see it,
	// in one read; KindNotFound when absent.
	GetChatImage(ctx context.Context, id string) (ChatImage, error)

	// MarkChatImageReady is MarkPhotoReady for chat images.
	MarkChatImageReady(ctx context.Context, id string, observed BlobInfo, now time.Time) (ChatImage, error)

	// ListChatImages returns one page of the READY chat images of
	// clinicID's appointment appointmentID, newest first by CreatedAt (ties
	// by id), as reader (the caller) pages through it: a cursor is bound to
	// the appointment and to reader, and any other (another reader's,
	// appointment's, clinic's or list's) is KindInvalid. PENDING images are
	// never listed. One Query of an index in DynamoDB, which may lag a
	// write by a moment.
	ListChatImages(ctx context.Context, clinicID, appointmentID, reader string, page Page) ([]ChatImage, string, error)
}

// AuditStore keeps the per-patient hash chains of the audit trail and
// counts the records appended, per UTC day, for the daily report.
type AuditStore interface {
	// AuditHead returns the head of patient's chain; the zero ChainHead
	// when the chain is empty.
	AuditHead(ctx context.Context, patientID string) (ChainHead, error)

	// AppendAudit appends rec to its patient's chain if the chain's head is
	// exactly (rec.Seq-1, rec.PrevHash), with each of notes in its
	// recipient's inbox, atomically, so that concurrent appends never fork
	// the chain. When the head moved it writes nothing and returns
	// *HeadMismatchError carrying the current head. With notes it is the
	// record of a refused request that the patient must also hear about (a
	// device refused on a bound session); a notification id that exists is
	// KindConflict, and nothing is written.
	AppendAudit(ctx context.Context, rec AuditRecord, notes ...Notification) error

	// ListAudit returns one page of patient's chain in sequence order
	// (ascending, or newest first when newestFirst).
	ListAudit(ctx context.Context, patientID string, newestFirst bool, page Page) ([]AuditRecord, string, error)

	// ListAuditByActor returns one page of the records whose actor is
	// actorID and that the actor's history lists (AuditRecord.InActorHistory),
	// newest first, across all chains. The cursor names no record's patient.
	ListAuditByActor(ctx context.Context, actorID string, page Page) ([]AuditRecord, string, error)

	// CountAudit returns how many audit records appended so far have
	// StatKey key and a time (At) within the UTC day that contains day
	// (00:00 UTC names it, as does any other time within it, in any zone).
	// Every record appended, by AppendAudit or with a state change, is
	// counted exactly once, on the UTC day of its At; a write that fails
	// counts nothing. In DynamoDB the count reads an index that lags writes
	// by a moment: the daily report runs after its day has ended.
	CountAudit(ctx context.Context, day time.Time, key string) (int64, error)
}

// ShareStore keeps sharing sessions (shares), the accesses their grantee
// opens and the ephemeral keys each view issues. Every method that changes
// one takes its record and notifications (see Store). A caller who is not
// the grantee (OpenAccess, IssueKey, ClaimKey) or the patient (RevokeShare)
// gets KindNotFound, whatever state the share or key is in: never a hint
// that it exists (ARCHITECTURE §2.1). The refusals are the entities' own
// rules (Share.RefuseUse, RefuseView, RefuseDevice,
// EphemeralKey.RefuseClaim), asked of the items as stored when a write is
// refused, so that both stores answer with the same codes and messages.
type ShareStore interface {
	// CreateShare stores a new ACTIVE share (due at its expiry). With
	// s.IdempotencyKey set it also claims (patient, key) for IdempotencyTTL
	// from s.CreatedAt; a claim that is live at s.CreatedAt makes it write
	// nothing and return *IdempotencyReplayError, whatever else would fail;
	// an expired claim counts as absent and is replaced. KindConflict when
	// the id exists.
	CreateShare(ctx context.Context, s Share, rec AuditRecord, notes ...Notification) error

	// GetShare returns the share or KindNotFound.
	GetShare(ctx context.Context, id string) (Share, error)

	// ListShares returns one page of the shares of a patient (role patient)
	// or granted to a professional (role professional), newest CreatedAt
	// first, as stored now. Any other role is KindInvalid.
	ListShares(ctx context.Context, party string, role Role, page Page) ([]Share, string, error)

	// RevokeShare moves patientID's share to REVOKED at `at`, recording the
	// reason and rec.ActorID as RevokedBy, and reports whether this call
	// revoked it. A share that is already revoked is left unchanged:
	// nothing is written (no notification, no record) and revoked is false.
	// An EXPIRED share is revoked like an ACTIVE one past its expiry.
	// KindNotFound when there is no such share of that patient.
	RevokeShare(ctx context.Context, id, patientID string, at time.Time, reason string, rec AuditRecord, notes ...Notification) (revoked bool, err error)

	// OpenAccess stores a new access (at suspicion score 0, whatever
	// a.Score) on condition that its share may still be used by
	// a.ProfessionalID at now on the device a.DeviceFingerprint (granted to
	// them, ACTIVE, not expired, and the device bound or room to bind it),
	// binding the device when it is new. Errors, in this order:
	// KindNotFound when there is no share, Share.RefuseDevice's refusal
	// (KindNotFound, KindGone session_revoked or session_expired,
	// KindForbidden device_mismatch), KindConflict when the access id
	// exists.
	OpenAccess(ctx context.Context, a Access, now time.Time, rec AuditRecord, notes ...Notification) error

	// GetAccess returns the access (with its share snapshot) or
	// KindNotFound.
	GetAccess(ctx context.Context, id string) (Access, error)

	// IssueKey consumes one view and stores the ISSUED key (due at its
	// expiry), on condition that the share may still be viewed by
	// k.ProfessionalID at now (granted, ACTIVE, not expired, views left)
	// and that the photo (k.PatientID, k.PhotoID) still exists: a deleted
	// photo's key is never released again. Errors, in this order:
	// KindNotFound when there is no share, Share.RefuseView's refusal
	// (KindNotFound, KindGone session_revoked, session_expired or
	// views_exhausted), KindNotFound for a deleted photo, KindConflict for
	// a key id that exists. Nothing else spends a view.
	IssueKey(ctx context.Context, k EphemeralKey, now time.Time, rec AuditRecord, notes ...Notification) error

	// GetKey returns the key or KindNotFound.
	GetKey(ctx context.Context, id string) (EphemeralKey, error)

	// ClaimKey moves key k (as read by GetKey: its id and share id are what
	// count) ISSUED → USED, once, on condition that the stored key is
	// professionalID's key of share k.ShareID, not expired at now, and that
	// its share is ACTIVE and not expired at now, so that a revocation
	// stops keys already issued (ARCHITECTURE §2.5). It returns the key as
	// stored after the claim. Errors, in this order: KindNotFound when there
	// is no key, EphemeralKey.RefuseClaim's refusal (KindNotFound, KindGone
	// key_used or key_expired), then Share.RefuseUse's (KindNotFound,
	// KindGone session_revoked or session_expired).
	ClaimKey(ctx context.Context, k EphemeralKey, professionalID string, now time.Time, rec AuditRecord, notes ...Notification) (EphemeralKey, error)

	// AddSuspicion moves the access's suspicion score from prev to next on
	// condition that it is still prev. When the score moved it writes
	// nothing and returns *ScoreMovedError with the current score.
	// KindNotFound when there is no such access.
	//
	// When flag is not empty, the write also requires that the access has
	// not been flagged with it before and records it on the access, in the
	// same atomic write: each distinct signal key counts once per access.
	// When the access was flagged with it before, nothing is written and the
	// error is ErrAlreadyFlagged (compare with errors.Is); this check comes
	// before the score check.
	AddSuspicion(ctx context.Context, accessID string, prev, next int, flag string, rec AuditRecord, notes ...Notification) error
}

// InboxStore keeps each recipient's notifications. The state changes of
// the other interfaces put them in (unread, unpublished, due for the
// relay); only these methods change them afterwards.
type InboxStore interface {
	// ListInbox returns one page of recipient's notifications, newest first
	// (NewSortableID ids sort by time).
	ListInbox(ctx context.Context, recipient string, page Page) ([]InboxItem, string, error)

	// GetNotification returns one of recipient's notifications, or
	// KindNotFound.
	GetNotification(ctx context.Context, recipient, id string) (InboxItem, error)

	// MarkRead marks one of recipient's notifications read and returns it
	// as stored after. Idempotent. KindNotFound when it is not theirs.
	MarkRead(ctx context.Context, recipient, id string) (InboxItem, error)

	// MarkPublished records that the notifier accepted the notification,
	// which is then no longer due. Idempotent. KindNotFound, and nothing
	// created, when it is not recipient's.
	MarkPublished(ctx context.Context, recipient, id string) error
}

// JobStore is what the scheduled jobs need besides the other interfaces
// (jobs.go): cleanup finds the items that are due through a sparse index of
// due times, never a scan, and acts on each with a write conditional on its
// being due still; daily-report keeps one report per UTC day.
type JobStore interface {
	// ListDue returns one page of the items of kind that are due in
	// [from, until], in no particular order. Both bounds are inclusive and
	// taken in whole seconds, truncated: an item is in the range when
	// from.Unix() <= Due.Unix() <= until.Unix(), so that with until = now
	// every item listed is past its expiry at now. A page may be empty
	// while the cursor is not. A cursor of another kind's list and an
	// unknown kind are KindInvalid. The cost grows with the range (the
	// DynamoDB adapter reads one index partition per hour of it): callers
	// bound from, as the cleanup job does with CleanupLookback. ListDue
	// reads an index that DynamoDB updates a moment after the write; what
	// it lists is rechecked by the conditional write that acts on it.
	ListDue(ctx context.Context, kind DueKind, from, until time.Time, page Page) ([]DueItem, string, error)

	// AbandonUpload deletes the record of a PENDING photo (it.Owner, it.ID)
	// or, when it.Owner is "", chat image it.ID, on condition that it is
	// still PENDING and its upload window has ended at now. Idempotent:
	// deleting an absent record is not an error. KindConflict when it is
	// READY or its window has not ended. It changes nothing else (the
	// appointment keeps its ImageCount). The caller deletes the object
	// first, so that a failure between the two leaves a record that names
	// the object and the next run finishes the job.
	AbandonUpload(ctx context.Context, it DueItem, now time.Time) error

	// ExpireShare moves share id from ACTIVE to EXPIRED, on condition that
	// it is ACTIVE and its expiry is at or before now, and reports whether
	// this call expired it. A share that is not ACTIVE is left unchanged:
	// nothing is written and expired is false. KindConflict when its expiry
	// is after now; KindNotFound when there is no such share. It changes
	// nothing else of the share. An EXPIRED share answers every other
	// method as an ACTIVE share past its expiry does, at any now.
	ExpireShare(ctx context.Context, id string, now time.Time, rec AuditRecord, notes ...Notification) (expired bool, err error)

	// DeleteExpiredKey deletes ephemeral key id on condition that its
	// expiry is at or before now. Idempotent: deleting an absent key is not
	// an error. KindConflict when it has not expired.
	DeleteExpiredKey(ctx context.Context, id string, now time.Time) error

	// JobWatermark returns the watermark of kind: the time before which the
	// cleanup job found nothing left to do. Zero when never set.
	JobWatermark(ctx context.Context, kind DueKind) (time.Time, error)

	// SetJobWatermark moves the watermark of kind forward to t. A t at or
	// before the stored watermark leaves it unchanged (not an error), so
	// that overlapping runs never move it back.
	SetJobWatermark(ctx context.Context, kind DueKind, t time.Time) error

	// PutDailyReport stores the report of the UTC day that contains r.Day,
	// replacing one stored before.
	PutDailyReport(ctx context.Context, r DailyReport) error

	// GetDailyReport returns the report of the UTC day that contains day
	// (as for AuditStore.CountAudit), or KindNotFound.
	GetDailyReport(ctx context.Context, day time.Time) (DailyReport, error)
}

// Counter counts events on the request path: the burst detector and the
// rate limits (limits.go). It is best effort by design: a caller that
// cannot count lets the call through.
type Counter interface {
	// Tally adds one to the counter named name and returns its new value,
	// atomically: concurrent Tallies of one name return distinct values.
	// The counter may be forgotten after `until` (a later Tally of the same
	// name may then start again from 1) but not before, as the store's own
	// clock reads it; the embedded store, which counts in memory, also
	// forgets every counter when its process ends. Names hold ids and a
	// window number only.
	Tally(ctx context.Context, name string, until time.Time) (int64, error)
}
