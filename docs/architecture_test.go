package docs_test

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	// testFuncRE finds the Go tests, fuzz targets, benchmarks and examples
	// a test file defines.
	testFuncRE = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark|Example)\w*)\(`)
	// namedTestRE finds the names of tests in prose: TestX, TestX/sub,
	// pkg.TestX, FuzzX, BenchmarkX, Example_x.
	namedTestRE = regexp.MustCompile(`\b((?:Test|Fuzz|Benchmark|Example)[A-Z_]\w*)`)
)

// TestArchitectureNamesRealTests: ARCHITECTURE.md proves each invariant
// and mitigation by naming tests, so every test, fuzz target, benchmark and
// example it names must be a function of a test file of the repository. A
// renamed or deleted test fails this one instead of leaving the document
// citing a proof that does not exist.
func TestArchitectureNamesRealTests(t *testing.T) {
	defined := map[string]bool{}
	for _, rel := range testFiles(t) {
		for _, m := range testFuncRE.FindAllStringSubmatch(readDoc(t, rel), -1) {
			defined[m[1]] = true
		}
	}
	if !defined["TestArchitectureNamesRealTests"] {
		t.Fatal("the walk did not find this test: it reads no test file")
	}
	var named, missing []string
	for _, m := range namedTestRE.FindAllStringSubmatch(readDoc(t, "docs/ARCHITECTURE.md"), -1) {
		if !slices.Contains(named, m[1]) {
			named = append(named, m[1])
		}
	}
	for _, n := range named {
		if !defined[n] {
			missing = append(missing, n)
		}
	}
	if len(named) < 50 {
		t.Errorf("ARCHITECTURE.md names only %d tests: the pattern no longer finds them?", len(named))
	}
	if len(missing) > 0 {
		t.Errorf("ARCHITECTURE.md names tests that no test file defines: %s", strings.Join(missing, ", "))
	}
}

// testFiles lists the repository's Go test files, as slash paths from its
// root, leaving out hidden folders, node_modules and testdata.
func testFiles(t *testing.T) []string {
	t.Helper()
	var files []string
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
		rel, err := filepath.Rel(root, path)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
