package docs_test

import (
	"io/fs"
	"path/filepath"
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
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg, _ := filepath.Rel(root, filepath.Dir(path))
		for _, m := range fuzzFuncRE.FindAllStringSubmatch(readDoc(t, filepath.ToSlash(filepath.Join(pkg, filepath.Base(path)))), -1) {
			inCode = append(inCode, "./"+filepath.ToSlash(pkg)+":"+m[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
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
