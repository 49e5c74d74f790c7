package httplegacy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medshare/medshare/shared/core"
	"github.com/medshare/medshare/shared/legacy/httplegacy"
	"github.com/medshare/medshare/shared/legacy/legacysourcetest"
	"github.com/medshare/medshare/shared/store/storetest"
)

// TestContract runs the source's contract suite on a directory served over
// HTTP by net/http's file server, as the embedded tier's tests serve the
// legacy bucket (the server types the files by their extension).
func TestContract(t *testing.T) {
	legacysourcetest.Run(t, legacysourcetest.Harness{New: func(t *testing.T, objects map[string]legacysourcetest.Object) core.LegacySource {
		dir := t.TempDir()
		for key, o := range objects {
			path := filepath.Join(dir, "legacy", filepath.FromSlash(key))
			storetest.Must(t, "mkdir", os.MkdirAll(filepath.Dir(path), 0o755))
			storetest.Must(t, "write "+key, os.WriteFile(path, o.Data, 0o644))
		}
		srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
		t.Cleanup(srv.Close)
		src, err := httplegacy.New(srv.URL+"/legacy", nil)
		storetest.Must(t, "New", err)
		return src
	}})
}

// TestAnswersThatAreNotDeadURLs: only 404 and 410 say a URL is dead; a
// bucket that went private (403) or a failing server is unavailable, so that
// the line is tried again rather than reported dead.
func TestAnswersThatAreNotDeadURLs(t *testing.T) {
	status := http.StatusForbidden
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
	}))
	defer srv.Close()
	src, err := httplegacy.New(srv.URL, nil)
	storetest.Must(t, "New", err)
	for _, tc := range []struct {
		status int
		kind   core.Kind
	}{
		{http.StatusForbidden, core.KindUnavailable},
		{http.StatusInternalServerError, core.KindUnavailable},
		{http.StatusTooManyRequests, core.KindUnavailable},
		{http.StatusNotFound, core.KindNotFound},
		{http.StatusGone, core.KindNotFound},
	} {
		status = tc.status
		_, err := src.Stat(t.Context(), "a.jpg")
		storetest.WantKind(t, http.StatusText(tc.status), err, tc.kind)
	}
}

// TestRangeIgnored: a server that ignores Range still gives the reader no
// more than the limit.
func TestRangeIgnored(t *testing.T) {
	body := strings.Repeat("x", 4096)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	}))
	defer srv.Close()
	src, err := httplegacy.New(srv.URL, nil)
	storetest.Must(t, "New", err)
	rc, _, err := src.Open(t.Context(), "a.jpg", 512)
	storetest.Must(t, "Open", err)
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if len(got) != 512 {
		t.Errorf("read %d bytes, want 512", len(got))
	}
}

func TestNewRefuses(t *testing.T) {
	for _, base := range []string{"", "ftp://x/", "https://u:p@x/", "https://x/?q=1", "/relative", "https://x/#f"} {
		if _, err := httplegacy.New(base, nil); err == nil {
			t.Errorf("New(%q) accepted", base)
		}
	}
	src, err := httplegacy.New("https://cdn.example.com/old chat", nil)
	storetest.Must(t, "New", err)
	if got, want := src.URL("a b/é+%.jpg"), "https://cdn.example.com/old%20chat/a%20b/%C3%A9+%25.jpg"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	_, err = src.Stat(t.Context(), "../x.jpg")
	storetest.WantKind(t, "Stat ../x.jpg", err, core.KindInvalid)
}
