package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// The scheduled jobs (issue 5): cleanup and the daily report. Both run as the
// server itself (role system), find their work through the JobStore's due
// index and counters (never a scan), and are idempotent: running one twice,
// or two at once, does the work once.

const (
	// CleanupID is the actor of the cleanup job's audit records.
	CleanupID = "medshare-cleanup"
	// ReportRecipient is the recipient of the published daily reports: the
	// operators' subscription filters on it.
	ReportRecipient = "medshare-ops"
	// NoteDailyReport is the type of a published daily report.
	NoteDailyReport = "daily_report"

	// CleanupLookback is how far back the first cleanup run (no watermark
	// yet) looks for due items: past the week for which an abandoned
	// upload's item outlives its window (UploadTTLGrace in the DynamoDB
	// adapter), so that no object is orphaned.
	CleanupLookback = 8 * 24 * time.Hour
	// cleanupOverlap is how far behind its last horizon the next run starts
	// again: a write that took its timestamp a little before it committed
	// is still found. Items done before are no longer due, so the overlap
	// costs a query, not work.
	cleanupOverlap = time.Hour
	// RetryNotificationsAfter is how old an unpublished notification must be
	// before cleanup publishes it again: younger ones are still being
	// published by the request that wrote them.
	RetryNotificationsAfter = time.Minute
	// cleanupMargin is how long before its context's deadline a run stops
	// taking new items, so that it returns (and reports) in time.
	cleanupMargin = 10 * time.Second
	cleanupPage   = 100
)

// CleanupResult is what one cleanup run did. Failed items stay due: the next
// run retries them.
type CleanupResult struct {
	SharesExpired     int `json:"sessions_expired"`
	KeysDeleted       int `json:"keys_deleted"`
	UploadsAborted    int `json:"uploads_aborted"`
	NotificationsSent int `json:"notifications_sent"`
	Skipped           int `json:"skipped"` // no longer due when visited (done by another run or request)
	Failed            int `json:"failed"`
	// Complete is false when the run stopped at its deadline with work left;
	// the next run resumes from the same watermark.
	Complete bool `json:"complete"`
	// Errors are the failures, for the log; they name ids, never content.
	Errors []error `json:"-"`
}

var errNotDue = errors.New("no longer due")

// Cleanup runs the cleanup job once: it expires the sessions past their
// expiry and notifies both parties, deletes expired keys, aborts uploads that
// stayed PENDING past their window (object, then record), and publishes
// again the notifications the notifier did not accept. Each kind of item is
// read from its watermark up to now through JobStore.ListDue, page by page,
// and each page's items are done by cleanupWorkers at once; the watermark
// moves forward only when every item up to it is done, so a run cut short
// (by its deadline, or a failure) is resumed by the next. With a deadline,
// each kind gets an equal share of the time left, so that a flood of one
// kind (keys after a busy quarter) does not starve the others. A kind that
// cannot be listed does not stop the others; its error is returned with
// what the run did.
func (s *Service) Cleanup(ctx context.Context) (CleanupResult, error) {
	res := CleanupResult{Complete: true}
	var errs []error
	for i, kind := range DueKinds {
		stop := time.Time{}
		if dl, ok := ctx.Deadline(); ok {
			left := time.Until(dl) - cleanupMargin
			stop = time.Now().Add(left / time.Duration(len(DueKinds)-i))
		}
		if err := s.cleanupKind(ctx, kind, stop, &res); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// cleanupWorkers is how many items of a page cleanup works on at once: one
// request each, mostly waiting on the store.
const cleanupWorkers = 8

func (s *Service) cleanupKind(ctx context.Context, kind DueKind, stop time.Time, res *CleanupResult) error {
	now := s.now()
	until := now
	if kind == DueNotification {
		until = now.Add(-RetryNotificationsAfter)
	}
	from, err := s.store.JobWatermark(ctx, kind)
	if err != nil {
		return fmt.Errorf("cleanup %s: watermark: %w", kind, err)
	}
	if from.IsZero() {
		// The first run: nothing due before the lookback is left that TTL
		// has not removed. Later runs start at the watermark however old it
		// is (a long outage, an item failing for days): nothing is skipped.
		from = until.Add(-CleanupLookback)
	}
	if from.After(until) {
		from = until
	}
	// The next watermark: an hour behind this run's horizon, and no later
	// than the first item that failed.
	mark := until.Add(-cleanupOverlap)
	var mu sync.Mutex // guards res and mark while a page is worked on
	page := Page{Limit: cleanupPage}
	for {
		if (!stop.IsZero() && time.Now().After(stop)) || ctx.Err() != nil {
			res.Complete = false
			return nil
		}
		items, next, err := s.store.ListDue(ctx, kind, from, until, page)
		if err != nil {
			return fmt.Errorf("cleanup %s: list due: %w", kind, err)
		}
		work := make(chan DueItem)
		var wg sync.WaitGroup
		for range min(cleanupWorkers, len(items)) {
			wg.Go(func() {
				for it := range work {
					err := s.cleanupItem(ctx, it)
					mu.Lock()
					res.count(kind, it, err, &mark)
					mu.Unlock()
				}
			})
		}
		cut := false
		for _, it := range items {
			if (!stop.IsZero() && time.Now().After(stop)) || ctx.Err() != nil {
				cut = true
				break
			}
			work <- it
		}
		close(work)
		wg.Wait()
		if cut {
			res.Complete = false
			return nil
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if mark.After(from) {
		if err := s.store.SetJobWatermark(ctx, kind, mark); err != nil {
			return fmt.Errorf("cleanup %s: set watermark: %w", kind, err)
		}
	}
	return nil
}

// count records the outcome of one item.
func (r *CleanupResult) count(kind DueKind, it DueItem, err error, mark *time.Time) {
	switch {
	case errors.Is(err, errNotDue):
		r.Skipped++
	case err != nil:
		r.Failed++
		r.Errors = append(r.Errors, fmt.Errorf("cleanup %s %s: %w", kind, it.ID, err))
		if it.Due.Before(*mark) {
			*mark = it.Due
		}
	case kind == DueShare:
		r.SharesExpired++
	case kind == DueKey:
		r.KeysDeleted++
	case kind == DueUpload:
		r.UploadsAborted++
	case kind == DueNotification:
		r.NotificationsSent++
	}
}

// cleanupItem does one due item's work; errNotDue when there was none left.
func (s *Service) cleanupItem(ctx context.Context, it DueItem) error {
	now := s.now()
	switch it.Kind {
	case DueShare:
		return s.expireShare(ctx, it.ID)
	case DueKey:
		return s.store.DeleteExpiredKey(ctx, it.ID, now)
	case DueUpload:
		return s.abandonUpload(ctx, it, now)
	case DueNotification:
		item, err := s.store.GetNotification(ctx, it.Owner, it.ID)
		if KindOf(err) == KindNotFound || (err == nil && item.Published) {
			return errNotDue
		}
		if err != nil {
			return err
		}
		if s.notifier == nil {
			return ErrUnavailable(nil, "no notifier is configured")
		}
		if err := s.notifier.Publish(ctx, item.Notification); err != nil {
			return err
		}
		return s.store.MarkPublished(ctx, it.Owner, it.ID)
	}
	return ErrInternal(nil, "unknown due kind %q", it.Kind)
}

// expireShare marks a share past its expiry EXPIRED, with a session_expired
// notification to each party and the cleanup job's audit record.
func (s *Service) expireShare(ctx context.Context, id string) error {
	sh, err := s.store.GetShare(ctx, id)
	if KindOf(err) == KindNotFound {
		return errNotDue
	}
	if err != nil {
		return err
	}
	if sh.Status != ShareActive {
		return errNotDue
	}
	data := map[string]string{"expired_at": sh.ExpiresAt.UTC().Format(time.RFC3339)}
	notes := []Notification{
		s.notification(sh.PatientID, NoteSessionExpired, sh.ID, data),
		s.notification(sh.ProfessionalID, NoteSessionExpired, sh.ID, data),
	}
	job := Caller{ID: CleanupID, Role: RoleSystem, RequestID: "cleanup"}
	_, err = s.audit.chained(ctx, view{share: sh.ID}.on(s.auditRecord(job, sh.PatientID, AuditShareExpire, "share", sh.ID, nil)), func(rec AuditRecord) error {
		expired, err := s.store.ExpireShare(ctx, sh.ID, s.now(), rec, notes...)
		if err == nil && !expired {
			return errNotDue
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, n := range notes {
		s.publish(ctx, n)
	}
	return nil
}

// abandonUpload deletes an abandoned upload's object, then its record: a
// failure between the two leaves the record, which names the object, due.
func (s *Service) abandonUpload(ctx context.Context, it DueItem, now time.Time) error {
	var object string
	if it.Owner != "" {
		p, err := s.store.GetPhoto(ctx, it.Owner, it.ID)
		if KindOf(err) == KindNotFound {
			return errNotDue
		}
		if err != nil {
			return err
		}
		if !p.Abandoned(now) {
			return errNotDue
		}
		object = p.ObjectKey()
	} else {
		img, err := s.store.GetChatImage(ctx, it.ID)
		if KindOf(err) == KindNotFound {
			return errNotDue
		}
		if err != nil {
			return err
		}
		if !img.Abandoned(now) {
			return errNotDue
		}
		object = img.ObjectKey()
	}
	if err := s.blobs.Delete(ctx, object); err != nil {
		return err
	}
	err := s.store.AbandonUpload(ctx, it, now)
	if KindOf(err) == KindConflict {
		return errNotDue // finalized meanwhile: it cannot be, past its window, but never delete a READY record
	}
	return err
}

// DailyReport counts what happened on the UTC day that contains day, from the
// audit trail's counters, stores the report (replacing one made before) and
// publishes it to ReportRecipient. Running it again for a finished day gives
// the same counts.
func (s *Service) DailyReport(ctx context.Context, day time.Time) (DailyReport, error) {
	day = day.UTC().Truncate(24 * time.Hour)
	r := DailyReport{Day: day, GeneratedAt: s.now()}
	count := func(dst *int64, keys ...string) error {
		for _, k := range keys {
			n, err := s.store.CountAudit(ctx, day, k)
			if err != nil {
				return fmt.Errorf("daily report %s: count %s: %w", day.Format(time.DateOnly), k, err)
			}
			*dst += n
		}
		return nil
	}
	stat := func(action AuditAction, role Role) string {
		return AuditRecord{Action: action, Outcome: OutcomeSuccess, ActorRole: role}.StatKey()
	}
	for _, c := range []struct {
		dst  *int64
		keys []string
	}{
		{&r.SharesCreated, []string{stat(AuditShareCreate, RolePatient)}},
		{&r.SharesRevoked, []string{stat(AuditShareRevoke, RolePatient)}},
		{&r.SharesAutoRevoked, []string{stat(AuditShareRevoke, RoleSystem)}},
		{&r.SharesExpired, []string{stat(AuditShareExpire, RoleSystem)}},
		{&r.Views, []string{stat(AuditKeyIssue, RoleProfessional)}},
		{&r.SuspiciousEvents, []string{stat(AuditActivityReport, RoleProfessional), stat(AuditActivityReport, RolePatient), stat(AuditActivityReport, RoleSystem)}},
		{&r.ChatImageFetches, []string{stat(AuditChatImageSignedURL, RolePatient), stat(AuditChatImageSignedURL, RoleProfessional)}},
	} {
		if err := count(c.dst, c.keys...); err != nil {
			return DailyReport{}, err
		}
	}
	if err := s.store.PutDailyReport(ctx, r); err != nil {
		return DailyReport{}, fmt.Errorf("daily report %s: store: %w", day.Format(time.DateOnly), err)
	}
	if s.notifier != nil {
		n := s.notification(ReportRecipient, NoteDailyReport, "", r.Data())
		if err := s.notifier.Publish(ctx, n); err != nil {
			return DailyReport{}, fmt.Errorf("daily report %s: publish: %w", day.Format(time.DateOnly), err)
		}
	}
	return r, nil
}

// Data is the report as a notification's data: counts only.
func (r DailyReport) Data() map[string]string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return map[string]string{
		"day":                   r.Day.Format(time.DateOnly),
		"sessions_created":      i(r.SharesCreated),
		"sessions_revoked":      i(r.SharesRevoked),
		"sessions_auto_revoked": i(r.SharesAutoRevoked),
		"sessions_expired":      i(r.SharesExpired),
		"views":                 i(r.Views),
		"suspicious_events":     i(r.SuspiciousEvents),
		"chat_image_fetches":    i(r.ChatImageFetches),
	}
}
