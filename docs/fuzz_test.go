package docs_test

import (
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var fuzzFuncRE = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)

// TestEveryFuzzTargetIsInTheMakefile: `make fuzz` and the smoke run of
// `make test` take their targets from the Makefile's FUZZ_TARGETS, so a
// fuzz target added to a test file but not there would never be fuzzed.
func TestEveryFuzzTargetIsInTheMakefile(t *testing.T) {
	var inCode []string
	for _, rel := range testFiles(t) {
		for _, m := range fuzzFuncRE.FindAllStringSubmatch(readDoc(t, rel), -1) {
			inCode = append(inCode, "./"+path.Dir(rel)+":"+m[1])
		}
	}
	mk := readDoc(t, "Makefile")
	start := strings.Index(mk, "FUZZ_TARGETS := \\\n")
	if start < 0 {
		t.Fatal("the Makefile has no FUZZ_TARGETS list")
	}
	var listed []string
	for _, line := range strings.Split(mk[start:], "\n")[1:] {
		listed = append(listed, strings.Fields(strings.TrimSuffix(line, "\\"))...)
		if !strings.HasSuffix(line, "\\") {
			break
		}
	}
	slices.Sort(inCode)
	slices.Sort(listed)
	if len(inCode) == 0 {
		t.Fatal("found no fuzz targets in the code")
	}
	if diff := cmp.Diff(inCode, listed); diff != "" {
		t.Errorf("fuzz targets in the code (-) and in the Makefile's FUZZ_TARGETS (+):\n%s", diff)
	}
}
