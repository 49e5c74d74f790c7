package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCDKJSONContext(t *testing.T) {
	// The repository's own cdk.json: the app and the context it documents.
	got, err := cdkJSONContext(filepath.Join("..", "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got["assetDir"] != "dist/functions" || got["stackName"] != "MedShare" {
		t.Errorf("cdk.json context = %v, want assetDir dist/functions and stackName MedShare", got)
	}
	missing, err := cdkJSONContext(filepath.Join(t.TempDir(), "cdk.json"))
	if err != nil || len(missing) != 0 {
		t.Errorf("no cdk.json: %v, %v; want an empty context", missing, err)
	}
	bad := filepath.Join(t.TempDir(), "cdk.json")
	if err := os.WriteFile(bad, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cdkJSONContext(bad); err == nil {
		t.Error("a malformed cdk.json was accepted")
	}
}

func TestContextFlags(t *testing.T) {
	c := contextFlags{}
	for _, v := range []string{"alarmEmail=ops@example.com", "corsOrigins=https://a.example,https://b.example"} {
		if err := c.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	want := contextFlags{"alarmEmail": "ops@example.com", "corsOrigins": "https://a.example,https://b.example"}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
	if err := c.Set("novalue"); err == nil {
		t.Error("-c without = was accepted")
	}
}
