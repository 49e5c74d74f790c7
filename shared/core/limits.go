package core

import (
	"context"
	"strconv"
	"time"
)

// Limits on what one caller can make the service write into other people's
// data (issue 10 §2), and on what one patient's token can make it unwrap
// (photo-key). Each is counted with Counter.Tally (one DynamoDB
// UpdateItem; in memory for the embedded store) per window of RateWindow,
// aligned on the Unix clock, so every Lambda instance counts into the same
// counter. They are set well above what a legitimate app does; past one the
// call answers 429 rate_limited with Retry-After, except the denied-record
// limit, which only stops recording (the caller's answer must not change).
// Counting is best effort, as the burst detector's is: when the counter
// cannot be read the call goes through.

// RateWindow is the window of every limit: whole hours of the Unix clock.
const RateWindow = time.Hour

// Default limits, per RateWindow.
const (
	// DefaultDeniedRecordLimit: denied attempts of one actor on one
	// patient's resources recorded in that patient's chain.
	DefaultDeniedRecordLimit = 20
	// DefaultShareCreateLimit: sessions one patient creates (each notifies
	// its professional).
	DefaultShareCreateLimit = 100
	// DefaultAccessOpenLimit: accesses one grantee opens on one share (each
	// notifies the patient and is recorded in their chain).
	DefaultAccessOpenLimit = 60
	// DefaultActivityReportLimit: activity reports on one access (each is
	// recorded in the patient's chain).
	DefaultActivityReportLimit = 120
	// DefaultAppointmentLimit: registrations of appointments of one patient
	// by one clinic (each is recorded in the patient's chain).
	DefaultAppointmentLimit = 60
	// DefaultChatUploadLimit: chat images one participant stages in one
	// appointment (each is stored, and recorded in the patient's chain
	// when finalized).
	DefaultChatUploadLimit = 300
	// DefaultPhotoKeyLimit: a patient's own photo keys sealed to their
	// devices (photo-key). Each is a KMS Decrypt, from the quota that
	// every issue-key of the account shares, and a record in the patient's
	// own chain; a portal showing a library of a few hundred photos on a
	// new device asks for each once per page load.
	DefaultPhotoKeyLimit = 1000
)

// Limits are the per-window limits; zero values take the defaults.
type Limits struct {
	DeniedRecords   int
	SharesCreated   int
	AccessesOpened  int
	ActivityReports int
	Appointments    int
	ChatUploads     int
	PhotoKeys       int
}

func (l Limits) withDefaults() Limits {
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&l.DeniedRecords, DefaultDeniedRecordLimit},
		{&l.SharesCreated, DefaultShareCreateLimit},
		{&l.AccessesOpened, DefaultAccessOpenLimit},
		{&l.ActivityReports, DefaultActivityReportLimit},
		{&l.Appointments, DefaultAppointmentLimit},
		{&l.ChatUploads, DefaultChatUploadLimit},
		{&l.PhotoKeys, DefaultPhotoKeyLimit},
	} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	return l
}

// window returns the number of the RateWindow that holds now and when it
// ends.
func window(now time.Time) (string, time.Time) {
	secs := int64(RateWindow / time.Second)
	w := now.Unix() / secs
	return strconv.FormatInt(w, 10), time.Unix((w+1)*secs, 0).UTC()
}

// tally counts one event named by parts (ids, which never hold '/') in the
// current window and returns the count, or ok=false when it could not be
// counted.
func (s *Service) tally(ctx context.Context, now time.Time, parts ...string) (n int64, end time.Time, ok bool) {
	w, end := window(now)
	name := "limit"
	for _, p := range append(parts, w) {
		name += "/" + p
	}
	// The counter outlives its window by one more window, so that a late
	// Tally in a slow request does not start it again.
	n, err := s.store.Tally(ctx, name, end.Add(RateWindow))
	if err != nil {
		return 0, time.Time{}, false
	}
	return n, end, true
}

// limit counts one call named by parts in the current window and refuses
// each call past limit with KindRateLimited and the time until the window
// ends. what names the limit in the message.
func (s *Service) limit(ctx context.Context, limit int, what string, parts ...string) error {
	now := s.now()
	n, end, ok := s.tally(ctx, now, parts...)
	if !ok || n <= int64(limit) {
		return nil
	}
	return ErrRateLimited(max(end.Sub(now), time.Second), "too many %s: at most %d an hour; try again later", what, limit)
}

// A denial is what becomes of a denied attempt under the denied-record
// limit (countDenial).
type denial int

const (
	denialRecorded denial = iota // recorded with its reason
	denialMarked                 // the first past the limit: recorded with the reason rate_limited
	denialDropped                // past that, in the window: not recorded
)

// countDenial counts one denied attempt of c on patientID's chain, once,
// and says what becomes of its record: c had at most the denied-record
// limit recorded on that chain in this window (recorded), one more
// (marked: the record says rate_limited, which tells the patient that more
// followed and were not recorded), or more (dropped). The patient's own
// attempts and the service's (role system) are neither counted nor limited.
// When the counter cannot be read the attempt is recorded.
func (s *Service) countDenial(ctx context.Context, c Caller, patientID string) denial {
	if c.ID == patientID || c.Role == RoleSystem {
		return denialRecorded
	}
	limit := int64(s.cfg.Limits.DeniedRecords)
	n, _, ok := s.tally(ctx, s.now(), "deny", c.ID, patientID)
	switch {
	case !ok || n <= limit:
		return denialRecorded
	case n == limit+1:
		return denialMarked
	}
	return denialDropped
}

// deniedRecordsLimited is the reason of the record that marks a run of
// denials past the limit.
func deniedRecordsLimited() error {
	return ErrRateLimited(0, "further denied attempts of this actor on this chain are not recorded until the window ends")
}

// recordDenial appends a denied attempt of c to patientID's chain under the
// denied-record limit (countDenial). The caller's answer is the same
// whether or not it is recorded.
func (s *Service) recordDenial(ctx context.Context, c Caller, patientID string, action AuditAction, resType, resID string, reason error) error {
	return s.recordDeniedView(ctx, c, patientID, action, resType, resID, view{}, reason)
}

// recordDeniedView is recordDenial for an attempt at a view, whose record
// names the view (AuditVersion2's fields).
func (s *Service) recordDeniedView(ctx context.Context, c Caller, patientID string, action AuditAction, resType, resID string, v view, reason error) error {
	switch s.countDenial(ctx, c, patientID) {
	case denialDropped:
		return nil
	case denialMarked:
		reason = deniedRecordsLimited()
	}
	return s.appendRecord(ctx, v.on(s.auditRecord(c, patientID, action, resType, resID, reason)))
}

// denyUnseen records a denied attempt that is answered with the same
// not-found an unknown id gets, and returns that answer whatever happens to
// the record: a failure to record must not tell the caller that the thing
// exists (ARCHITECTURE §2.1). The failure rides along as the answer's cause,
// which the HTTP edge logs.
func (s *Service) denyUnseen(ctx context.Context, c Caller, patientID string, action AuditAction, resType, resID string, answer error) error {
	if err := s.recordDenial(ctx, c, patientID, action, resType, resID, answer); err != nil {
		return withCause(answer, err)
	}
	return answer
}
