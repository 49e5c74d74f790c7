package main

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/medshare/medshare/shared/httpapi"
	"github.com/medshare/medshare/shared/runtime/lambdafn"
)

// TestMainsAreGenerated: functions/ holds exactly one main package per
// function (every operation of the route table and every job), and each
// main.go is what `go generate ./shared/runtime/lambdafn` writes from
// lambdafn.Uses, so that no function's links can drift from the table.
func TestMainsAreGenerated(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "..", "functions")
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
			t.Errorf("functions/%s/main.go is not what lambdafn.Uses generates: run go generate ./shared/runtime/lambdafn", name)
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

// TestRouteNames: the generated mains name each operation's row of the
// route table by routeVar. Every row of httpapi (a variable of type Route)
// is named routeVar of its Op, and httpapi.Routes lists each row once.
func TestRouteNames(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "..", "..", "httpapi", "routes.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string // the Ops of the rows, in the file's order
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Values) != len(vs.Names) {
			return true
		}
		for i, v := range vs.Values {
			lit, ok := v.(*ast.CompositeLit)
			if !ok {
				continue
			}
			if typ, ok := lit.Type.(*ast.Ident); !ok || typ.Name != "Route" {
				continue
			}
			op := ""
			for _, e := range lit.Elts {
				if kv, ok := e.(*ast.KeyValueExpr); ok && kv.Key.(*ast.Ident).Name == "Op" {
					op, _ = strconv.Unquote(kv.Value.(*ast.BasicLit).Value)
				}
			}
			if name := vs.Names[i].Name; name != routeVar(op) {
				t.Errorf("the row of %q is named %s, want %s", op, name, routeVar(op))
			}
			rows = append(rows, op)
		}
		return true
	})
	var listed []string
	for _, r := range httpapi.Routes() {
		listed = append(listed, r.Op)
	}
	if !slices.Equal(rows, listed) {
		t.Errorf("httpapi.Routes() lists %v, the rows are %v", listed, rows)
	}
	for _, c := range []struct{ op, want string }{
		{"health", "RouteHealth"}, {"chat-signed-url", "RouteChatSignedURL"}, {"mark-notification-read", "RouteMarkNotificationRead"},
	} {
		if got := routeVar(c.op); got != c.want {
			t.Errorf("routeVar(%q) = %q, want %q", c.op, got, c.want)
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
