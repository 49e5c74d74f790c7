package core

import (
	"time"
)

// What the scheduled jobs (jobs.go) read and write through the store
// (JobStore, store.go): cleanup finds the items that are due (abandoned
// uploads, sessions past expiry, expired keys, notifications the notifier
// never accepted) through a sparse index of due times, never a scan;
// daily-report counts audit records per UTC day through counters the stores
// keep as they append records (AuditStore.CountAudit).

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
	SharesCreated     int64 `json:"sessions_created"`
	SharesRevoked     int64 `json:"sessions_revoked"`      // by their patient
	SharesAutoRevoked int64 `json:"sessions_auto_revoked"` // by the detector
	SharesExpired     int64 `json:"sessions_expired"`      // by the cleanup job
	Views             int64 `json:"views"`                 // keys issued: views spent
	SuspiciousEvents  int64 `json:"suspicious_events"`     // activity reports and detector signals scored
	ChatImageFetches  int64 `json:"chat_image_fetches"`    // chat-image signed URLs handed out
}

// StatKey is the counter an audit record counts towards in
// AuditStore.CountAudit:
// its action, outcome and actor's role.
func (r AuditRecord) StatKey() string {
	return string(r.Action) + "|" + r.Outcome + "|" + string(r.ActorRole)
}
