package storekeys

import (
	"fmt"
	"strings"
	"time"

	"github.com/medshare/medshare/shared/core"
)

// The items of the scheduled jobs (issue 5, core.JobStore): one watermark per
// kind of due item, one report per UTC day, one counter per tally name.
const (
	JobPKPrefix    = "JOB#"      // job partition: JOB#<due kind>
	WatermarkSK    = "WATERMARK" // the kind's watermark, its only sort key
	ReportPKPrefix = "REPORT#"   // daily report partition: REPORT#<yyyy-mm-dd>
	ReportSK       = "REPORT"    // the report's only sort key
	TallyPKPrefix  = "TALLY#"    // tally partition: TALLY#<name>
	TallySK        = "TALLY"     // the tally's only sort key
)

// ReportDayLayout is the UTC day in a daily report's key.
const ReportDayLayout = "2006-01-02"

// WatermarkKey is the key of the cleanup job's watermark of kind.
func WatermarkKey(kind core.DueKind) Key {
	return Key{PK: JobPKPrefix + string(kind), SK: WatermarkSK}
}

// DailyReportKey is the key of the report of the UTC day of day.
func DailyReportKey(day time.Time) Key {
	return Key{PK: ReportPKPrefix + day.UTC().Format(ReportDayLayout), SK: ReportSK}
}

// TallyKey is the key of the counter called name.
func TallyKey(name string) Key { return Key{PK: TallyPKPrefix + name, SK: TallySK} }

// CheckDueKind returns a KindInvalid error unless kind is one of
// core.DueKinds.
func CheckDueKind(kind core.DueKind) error {
	for _, k := range core.DueKinds {
		if k == kind {
			return nil
		}
	}
	return core.ErrInvalid("due kind %q is unknown", kind)
}

// DueItemKey is the key of the item that it names: for core.DueUpload the
// photo (it.Owner, it.ID), or the chat image it.ID when it.Owner is ""; the
// share, the ephemeral key, or the notification it.ID in recipient
// it.Owner's inbox. It fails on an unknown kind.
func DueItemKey(it core.DueItem) (Key, error) {
	switch it.Kind {
	case core.DueUpload:
		if it.Owner == "" {
			return ChatImageKey(it.ID), nil
		}
		return PhotoKey(it.Owner, it.ID), nil
	case core.DueShare:
		return ShareKey(it.ID), nil
	case core.DueKey:
		return EphemeralKeyKey(it.ID), nil
	case core.DueNotification:
		return InboxKey(it.Owner, it.ID), nil
	}
	return Key{}, core.ErrInvalid("due kind %q is unknown", it.Kind)
}

// ParseDueItemKey is the inverse of DueItemKey: the id and owner of the item
// of kind at k. It fails on a key that DueItemKey does not make for kind, or
// whose ids CheckIDs refuses.
func ParseDueItemKey(kind core.DueKind, k Key) (id, owner string, err error) {
	var ok bool
	ids := func(v ...string) bool { return CheckIDs(v...) == nil }
	switch kind {
	case core.DueUpload:
		if k.SK == ChatImageSK {
			id, ok = strings.CutPrefix(k.PK, ChatImagePKPrefix)
			ok = ok && ids(id)
			break
		}
		var photo bool
		owner, ok = strings.CutPrefix(k.PK, PhotoPKPrefix)
		id, photo = strings.CutPrefix(k.SK, PhotoSKPrefix)
		ok = ok && photo && ids(owner, id)
	case core.DueShare:
		id, ok = strings.CutPrefix(k.PK, SharePKPrefix)
		ok = ok && k.SK == ShareSK && ids(id)
	case core.DueKey:
		id, ok = strings.CutPrefix(k.PK, EphemeralKeyPKPrefix)
		ok = ok && k.SK == EphemeralKeySK && ids(id)
	case core.DueNotification:
		var note bool
		owner, ok = strings.CutPrefix(k.PK, InboxPKPrefix)
		id, note = strings.CutPrefix(k.SK, InboxSKPrefix)
		ok = ok && note && ids(owner, id)
	}
	if !ok {
		return "", "", fmt.Errorf("key %q %q is not the key of a due %s", k.PK, k.SK, kind)
	}
	return id, owner, nil
}
