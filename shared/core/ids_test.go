package core_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/medshare/medshare/shared/core"
)

// TestIDShapes: ValidID and ValidExternalID accept exactly what their
// regular expressions describe, on ids the service makes and on every
// one- and two-byte deviation of a few, at each position and length edge.
func TestIDShapes(t *testing.T) {
	generated := regexp.MustCompile(`^[a-z]{2}_[a-z2-7]{26}$`)
	external := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$`)
	var inputs []string
	for _, p := range []string{"ph", "ci", "sh"} {
		inputs = append(inputs, core.NewID(p))
	}
	inputs = append(inputs, "", "a", "pat-1", "Dr.Who_2:x@example.org", "-x", ".x", "x-", "é", "a\x00b", "a b", "a\n",
		strings.Repeat("a", 127), strings.Repeat("a", 128), strings.Repeat("a", 129), "ph_", "PH_aaaaaaaaaaaaaaaaaaaaaaaaaa")
	// Every byte at the first, the middle and the last position of a few.
	seeds := []string{core.NewID("ph"), "appt-42", strings.Repeat("z", 128)}
	for _, s := range seeds {
		for _, pos := range []int{0, len(s) / 2, len(s) - 1} {
			for c := 0; c < 256; c++ {
				b := []byte(s)
				b[pos] = byte(c)
				inputs = append(inputs, string(b))
			}
		}
		inputs = append(inputs, s+"a", s[:len(s)-1], s+"\n")
	}
	for _, in := range inputs {
		if got, want := core.ValidExternalID(in), external.MatchString(in); got != want {
			t.Errorf("ValidExternalID(%q) = %v, the expression says %v", in, got, want)
		}
		for _, p := range []string{"ph", "ci", "PH", ""} {
			want := generated.MatchString(in) && strings.HasPrefix(in, p+"_")
			if got := core.ValidID(p, in); got != want {
				t.Errorf("ValidID(%q, %q) = %v, the expression says %v", p, in, got, want)
			}
		}
	}
}
