package throughput

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestViewsRollOver: one client's views, one after the other, open a new
// access every ViewsPerAccess views and a new session when one has had its
// accesses, and none is refused: with 2 accesses a session, 40 views take 3
// sessions, each with exactly the views its accesses spend.
func TestViewsRollOver(t *testing.T) {
	ctx := context.Background()
	o, err := Options{Clients: 1, AccessesPerShare: 2}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startEmbedded(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	w, err := setup(ctx, srv, o)
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{hc: srv.client()}
	sessions := map[string]bool{}
	for i := range 40 {
		if err := w.view(ctx, c, 0); err != nil {
			t.Fatalf("view %d: %v", i, err)
		}
		sessions[w.pros[0].shareID] = true
	}
	if len(sessions) != 3 {
		t.Errorf("40 views took %d sessions, want 3", len(sessions))
	}
}

// TestPercentile: nearest rank.
func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i))
	}
	if p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99); p50 != 50 || p99 != 99 {
		t.Errorf("p50 %d, p99 %d of 1..100; want 50, 99", p50, p99)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing: %v", got)
	}
}

// TestRatios: each run's rate over the floor run's just before it, and
// their median.
func TestRatios(t *testing.T) {
	r := Row{
		Floor:  []Sample{{Rate: 100}, {Rate: 200}, {Rate: 50}},
		Server: []Sample{{Rate: 10}, {Rate: 60}, {Rate: 10}},
	}
	got := r.Ratios()
	want := []float64{0.1, 0.3, 0.2}
	if len(got) != len(want) {
		t.Fatalf("ratios %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ratio %d: %v, want %v", i, got[i], want[i])
		}
	}
	if m := median(got, func(x float64) float64 { return x }); m != 0.2 {
		t.Errorf("median %v, want 0.2", m)
	}
}
