package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/devtools/testenv"
)

// BenchmarkCleanupExpire times the cleanup job per expired session on the
// embedded runtime: b.N sessions past their expiry, then one run that
// expires them all (a conditional write with both notifications and the
// audit record each, then their publication).
func BenchmarkCleanupExpire(b *testing.B) {
	env := testenv.Start(b, core.Config{})
	u := usersOf(env)
	ctx := context.Background()
	photo, err := u.pat.UploadPhoto(ctx, "CROWN", "image/png", []byte("benchmark photo"), nil)
	if err != nil {
		b.Fatal(err)
	}
	caller := core.Caller{ID: patient, Role: core.RolePatient, RequestID: "bench"}
	for range b.N {
		if _, _, err := env.Service.CreateShare(ctx, caller, core.ShareInput{
			ProfessionalID: pro, PhotoIDs: []string{photo}, ExpiresIn: time.Minute, MaxViews: 1, ScreenshotPolicy: core.ScreenshotWarn,
		}); err != nil {
			b.Fatal(err)
		}
	}
	env.Clock.Advance(61 * time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := env.Service.Cleanup(ctx)
	b.StopTimer()
	if err != nil || res.SharesExpired != b.N {
		b.Fatalf("cleanup: %+v %v, want %d sessions expired", res, err, b.N)
	}
}

// BenchmarkDailyReport times one daily report (10 counters read, the report
// stored and published) on the embedded runtime.
func BenchmarkDailyReport(b *testing.B) {
	env := testenv.Start(b, core.Config{})
	ctx := context.Background()
	day := env.Clock.Now().UTC().Truncate(24 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := env.Service.DailyReport(ctx, day); err != nil {
			b.Fatal(err)
		}
	}
}
