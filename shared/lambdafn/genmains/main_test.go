package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/lambdafn"
)

// TestMainsAreGenerated: functions/ holds exactly one main package per
// function (every operation of the route table and every job), and each
// main.go is what `go generate ./shared/lambdafn` writes from
// lambdafn.Uses, so that no function's links can drift from the table.
func TestMainsAreGenerated(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "functions")
	names := lambdafn.Names()
	for _, name := range names {
		want, err := mainSource(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, name, "main.go"))
		if err != nil {
			t.Errorf("function %s has no main: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("functions/%s/main.go is not what lambdafn.Uses generates: run go generate ./shared/lambdafn", name)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && !slices.Contains(names, e.Name()) {
			t.Errorf("functions/%s is neither an operation of the route table nor a job", e.Name())
		}
	}
}

// TestOperationNames: the generated mains name each operation's
// httpapi.Operation variable by opVar; every route has one, with its Op.
func TestOperationNames(t *testing.T) {
	ops := httpapi.Operations()
	if len(ops) != len(httpapi.Routes) {
		t.Fatalf("%d operations for %d routes", len(ops), len(httpapi.Routes))
	}
	for i, r := range httpapi.Routes {
		if ops[i].Op != r.Op {
			t.Errorf("operation %d is %q, route %d is %q", i, ops[i].Op, i, r.Op)
		}
	}
	for _, c := range []struct{ op, want string }{
		{"health", "OpHealth"}, {"chat-signed-url", "OpChatSignedURL"}, {"mark-notification-read", "OpMarkNotificationRead"},
	} {
		if got := opVar(c.op); got != c.want {
			t.Errorf("opVar(%q) = %q, want %q", c.op, got, c.want)
		}
	}
}

func TestMainSourceRefuses(t *testing.T) {
	if _, err := mainSource("no-such-function"); !errors.Is(err, errNotAFunction) {
		t.Errorf("mainSource of an unknown name: %v, want errNotAFunction", err)
	}
}

func TestComment(t *testing.T) {
	got := comment("a " + string(bytes.Repeat([]byte("b"), 80)) + " c d")
	want := "// a\n// " + string(bytes.Repeat([]byte("b"), 80)) + "\n// c d"
	if got != want {
		t.Errorf("comment:\n%s\nwant\n%s", got, want)
	}
}
