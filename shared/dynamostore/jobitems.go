package dynamostore

import (
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/storekeys"
)

// The item shapes of the scheduled jobs (core.JobStore), in the style of
// items.go. None of them is in an index, and none expires: a watermark and
// a report are kept, a tally carries a TTL.

// watermarkItem is the cleanup job's watermark of one kind of due item.
type watermarkItem struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Kind string `dynamodbav:"kind"`
	// At is the watermark, a fixed-width time string: SetJobWatermark's
	// condition compares it as a string, which compares as a time.
	At string `dynamodbav:"at"`
}

// reportItem is the report of one UTC day.
type reportItem struct {
	PK                  string `dynamodbav:"pk"`
	SK                  string `dynamodbav:"sk"`
	Day                 string `dynamodbav:"day"`
	GeneratedAt         string `dynamodbav:"generated_at"`
	SessionsCreated     int64  `dynamodbav:"sessions_created"`
	SessionsRevoked     int64  `dynamodbav:"sessions_revoked"`
	SessionsAutoRevoked int64  `dynamodbav:"sessions_auto_revoked"`
	SessionsExpired     int64  `dynamodbav:"sessions_expired"`
	Views               int64  `dynamodbav:"views"`
	SuspiciousEvents    int64  `dynamodbav:"suspicious_events"`
	ChatImageFetches    int64  `dynamodbav:"chat_image_fetches"`
}

// reportItemOf is the item of r, whose Day is stored as 00:00 UTC of the
// day it names.
func reportItemOf(r core.DailyReport) reportItem {
	k := storekeys.DailyReportKey(r.Day)
	return reportItem{
		PK:                  k.PK,
		SK:                  k.SK,
		Day:                 formatTime(dayOf(r.Day)),
		GeneratedAt:         formatTime(r.GeneratedAt),
		SessionsCreated:     r.SessionsCreated,
		SessionsRevoked:     r.SessionsRevoked,
		SessionsAutoRevoked: r.SessionsAutoRevoked,
		SessionsExpired:     r.SessionsExpired,
		Views:               r.Views,
		SuspiciousEvents:    r.SuspiciousEvents,
		ChatImageFetches:    r.ChatImageFetches,
	}
}

func (r reportItem) report() (core.DailyReport, error) {
	out := core.DailyReport{ReportCounts: core.ReportCounts{
		SessionsCreated:     r.SessionsCreated,
		SessionsRevoked:     r.SessionsRevoked,
		SessionsAutoRevoked: r.SessionsAutoRevoked,
		SessionsExpired:     r.SessionsExpired,
		Views:               r.Views,
		SuspiciousEvents:    r.SuspiciousEvents,
		ChatImageFetches:    r.ChatImageFetches,
	}}
	err := parseTimes(timeField{r.Day, &out.Day}, timeField{r.GeneratedAt, &out.GeneratedAt})
	return out, err
}

func decodeReport(it item) (core.DailyReport, error) {
	var r reportItem
	if err := unmarshal(it, &r); err != nil {
		return core.DailyReport{}, err
	}
	out, err := r.report()
	if err != nil {
		return core.DailyReport{}, corrupt(it, err)
	}
	return out, nil
}

// The attribute of a tally's count, and of a watermark's time.
const (
	attrTallyCount = "n"
	attrWatermark  = "at"
	attrKind       = "kind"
)

// dayOf is 00:00 UTC of the UTC day that contains t: the day that the
// JobStore methods taking a day name by any time within it.
func dayOf(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }
