package core

import (
	"context"
	"time"
)

// The ports of the scheduled jobs (jobs.go): cleanup finds the items that are
// due (abandoned uploads, sessions past expiry, expired keys, notifications
// the notifier never accepted) through a sparse index of due times, never a
// scan; daily-report counts audit records per UTC day through counters the
// stores keep as they append records.

// DueKind is a kind of item that the cleanup job visits once it is due.
type DueKind string

// The kinds of due item, and when each is due.
const (
	// DueUpload: a PENDING photo or chat image, due at the end of its
	// upload window. It stops being due when it becomes READY or is deleted.
	DueUpload DueKind = "upload"
	// DueShare: an ACTIVE share, due at its expiry. It stops being due when
	// it is revoked or expired (ExpireShare).
	DueShare DueKind = "share"
	// DueKey: an ephemeral key (issued or used), due at its expiry. It stops
	// being due when it is deleted.
	DueKey DueKind = "key"
	// DueNotification: an inbox item that the notifier has not accepted,
	// due at its creation. It stops being due when MarkPublished records it.
	DueNotification DueKind = "notification"
)

// DueKinds lists every DueKind, in the order the cleanup job visits them.
var DueKinds = []DueKind{DueShare, DueKey, DueUpload, DueNotification}

// DueItem names one due item.
type DueItem struct {
	Kind DueKind
	// Due is when the item became due, in whole seconds, rounded up: an item
	// due at Due is past its expiry at any now >= Due.
	Due time.Time
	// ID is the photo, chat image, share, key or notification id.
	ID string
	// Owner is, for DueUpload, the photo's owner, or "" when the item is a
	// chat image; for DueNotification, the recipient; "" otherwise.
	Owner string
}

// DailyReport is what happened on one UTC day, counted from the audit trail.
type DailyReport struct {
	Day         time.Time // 00:00 UTC of the day
	GeneratedAt time.Time
	ReportCounts
}

// ReportCounts are a daily report's counts, with the names they have in
// JSON (the job's result, the embedded store's record).
type ReportCounts struct {
	SessionsCreated     int64 `json:"sessions_created"`
	SessionsRevoked     int64 `json:"sessions_revoked"`      // by their patient
	SessionsAutoRevoked int64 `json:"sessions_auto_revoked"` // by the detector
	SessionsExpired     int64 `json:"sessions_expired"`      // by the cleanup job
	Views               int64 `json:"views"`                 // keys issued: views spent
	SuspiciousEvents    int64 `json:"suspicious_events"`     // activity reports and detector signals scored
	ChatImageFetches    int64 `json:"chat_image_fetches"`    // chat-image signed URLs handed out
}

// StatKey is the counter an audit record counts towards in CountAudit:
// its action, outcome and actor's role.
func (r AuditRecord) StatKey() string {
	return string(r.Action) + "|" + r.Outcome + "|" + string(r.ActorRole)
}

// JobStore is what the scheduled jobs need of the store. Like every port,
// each method is one DynamoDB request (a query page, a conditional write or
// one TransactWriteItems) or one bbolt transaction.
type JobStore interface {
	// ListDue returns one page of the items of kind that are due in
	// [from, until], in no particular order, and the cursor of the next
	// page ("" at the end). Both bounds are inclusive and taken in whole
	// seconds, truncated: an item is in the range when from.Unix() <=
	// Due.Unix() <= until.Unix(), so that with until = now every item
	// listed is past its expiry at now. Items due before from are not
	// returned. A page may be empty while the cursor is not. A malformed
	// cursor, a cursor of another kind's list and an unknown kind are
	// KindInvalid. The cost grows with the range (the DynamoDB adapter reads
	// one index partition per hour of it): callers bound from, as the
	// cleanup job does with CleanupLookback. ListDue reads an index that
	// DynamoDB updates a moment after the write; what it lists is rechecked
	// by the conditional write that acts on it.
	ListDue(ctx context.Context, kind DueKind, from, until time.Time, page Page) ([]DueItem, string, error)

	// AbandonUpload deletes the record of a PENDING photo (it.Owner, it.ID)
	// or, when it.Owner is "", chat image it.ID, on condition that it is
	// still PENDING and its upload window has ended at now. Deleting an
	// absent record is not an error. KindConflict when it is READY or its
	// window has not ended. The caller deletes the object first, so that a
	// failure between the two leaves a record that names the object and the
	// next run finishes the job.
	AbandonUpload(ctx context.Context, it DueItem, now time.Time) error

	// ExpireShare moves share id from ACTIVE to EXPIRED, on condition that it
	// is ACTIVE and its expiry is at or before now, with the notifications
	// (to its patient and to its grantee) and the audit record, atomically,
	// and reports whether this call expired it. A share that is not ACTIVE
	// (revoked, or expired before) is left unchanged: nothing is written and
	// expired is false. KindConflict when its expiry is after now;
	// KindNotFound when there is no such share. The record follows its
	// chain's head as for ShareStore methods (*HeadMismatchError). An
	// EXPIRED share answers every other method as an ACTIVE share past its
	// expiry does.
	ExpireShare(ctx context.Context, id string, now time.Time, notes []Notification, rec AuditRecord) (expired bool, err error)

	// DeleteExpiredKey deletes ephemeral key id on condition that its expiry
	// is at or before now. Deleting an absent key is not an error;
	// KindConflict when it has not expired.
	DeleteExpiredKey(ctx context.Context, id string, now time.Time) error

	// GetNotification returns one of recipient's notifications, or
	// KindNotFound.
	GetNotification(ctx context.Context, recipient, id string) (InboxItem, error)

	// JobWatermark returns the watermark of kind: the time before which the
	// cleanup job found nothing left to do. Zero when never set.
	JobWatermark(ctx context.Context, kind DueKind) (time.Time, error)

	// SetJobWatermark moves the watermark of kind forward to t. A t at or
	// before the stored watermark leaves it unchanged (not an error), so
	// that overlapping runs never move it back.
	SetJobWatermark(ctx context.Context, kind DueKind, t time.Time) error

	// CountAudit returns how many audit records appended so far have
	// StatKey key and a time (At) within the UTC day that contains day
	// (00:00 UTC names it, as does any other time within it, in any zone).
	// Every record appended through AuditStore.AppendAudit or with a
	// ShareStore or JobStore change is counted exactly once, on the UTC day
	// of its At; a write that fails counts nothing. In DynamoDB the count
	// reads an index that lags writes by a moment: the daily report runs
	// after its day has ended.
	CountAudit(ctx context.Context, day time.Time, key string) (int64, error)

	// PutDailyReport stores the report of the UTC day that contains r.Day,
	// replacing one stored before.
	PutDailyReport(ctx context.Context, r DailyReport) error

	// GetDailyReport returns the report of the UTC day that contains day
	// (as for CountAudit), or KindNotFound.
	GetDailyReport(ctx context.Context, day time.Time) (DailyReport, error)

	// Tally adds one to the counter named name and returns its new value.
	// The counter may be forgotten after `until` (a later Tally of the same
	// name may then start again from 1), and the embedded store, which
	// counts in memory, forgets them when its process ends. It is what the
	// burst detector and the rate limits (limits.go) count calls with;
	// names hold ids and a window number only.
	Tally(ctx context.Context, name string, until time.Time) (int64, error)
}
