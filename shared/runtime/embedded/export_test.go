package embedded

import "testing"

// SetAfterSnapshot runs f in every Backup between the store's snapshot and
// the copy of the objects, until the test ends.
func SetAfterSnapshot(t testing.TB, f func()) {
	afterSnapshot = f
	t.Cleanup(func() { afterSnapshot = nil })
}
